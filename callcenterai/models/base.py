"""What every CallCenterAI model is: raw texts in, probabilities over its labels out.

Evaluation, the services, batch classification and the benchmarks use models through this
interface only, and turn probabilities into answers with :func:`top_labels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TermContribution:
    term: str
    weight: float


def top_labels(probabilities: np.ndarray, labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The most probable label of each row, and its probability (the confidence)."""
    best = probabilities.argmax(axis=1)
    return [labels[i] for i in best], probabilities[np.arange(len(best)), best]


class Classifier:
    """A text classifier: ``predict_proba`` over ``labels``, an identity, maybe explanations."""

    kind: str
    name: str
    version: str
    labels: list[str]
    run_id: str | None = None  # the MLflow run that trained it, once loaded from MLflow

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities, one row per text, columns in the order of :attr:`labels`."""
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> list[str]:
        return top_labels(self.predict_proba(texts), self.labels)[0]

    def explain(
        self, text: str, label: str | None = None, top_k: int = 5
    ) -> list[TermContribution] | None:
        """The terms behind a prediction, or None when the model cannot say."""
        return None

    def unknown_word_share(self, texts: Sequence[str]) -> list[float] | None:
        """For each text, the share of its words outside the model's vocabulary (a drift signal),
        or None when the model has no word vocabulary."""
        return None

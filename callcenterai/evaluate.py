"""Evaluation of any CallCenterAI model on a labelled CSV.

Reports overall metrics, per-class precision/recall/F1, the confusion matrix, calibration
(expected calibration error and log loss) and slices (short vs long tickets), because one
number hides where a model fails.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
)

from callcenterai.agent.ticket import scrub_for_model
from callcenterai.config import DataParams
from callcenterai.data import LABEL, LANGUAGE, SOURCE, TEXT, load_tickets, resolve_columns
from callcenterai.errors import DataError
from callcenterai.models.base import Classifier, top_labels

logger = logging.getLogger(__name__)


def expected_calibration_error(
    probabilities: np.ndarray, correct: np.ndarray, bins: int = 15
) -> float:
    """Top-label ECE: the gap between confidence and accuracy, averaged over confidence bins."""
    confidence = probabilities.max(axis=1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def _overall(truth: list[str], predicted: list[str]) -> dict[str, float]:
    return {
        "n": len(truth),
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(truth, predicted, average="weighted", zero_division=0)),
    }


def bootstrap_intervals(
    truth: Sequence[str], predicted: Sequence[str], n: int = 1000, seed: int = 0
) -> dict[str, list[float]]:
    """95 % percentile-bootstrap intervals of accuracy and macro-F1 (tickets resampled)."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    samples = np.random.default_rng(seed).integers(0, len(truth), size=(n, len(truth)))
    accuracy = (truth[samples] == predicted[samples]).mean(axis=1)
    return {
        name: [round(float(v), 4) for v in np.percentile(values, [2.5, 97.5])]
        for name, values in (
            ("accuracy_ci95", accuracy),
            ("macro_f1_ci95", _resampled_macro_f1(truth, predicted, samples)),
        )
    }


def _resampled_macro_f1(truth: np.ndarray, predicted: np.ndarray, samples: np.ndarray):
    """scikit-learn's macro-F1 (``zero_division=0``, over the labels present in the resample's
    truth or predictions) of each resample (row of ``samples``), counted for all at once."""
    classes = np.unique(np.concatenate([truth, predicted]))
    true_codes, predicted_codes = np.searchsorted(classes, truth), np.searchsorted(
        classes, predicted
    )
    n, k = len(samples), len(classes)
    offsets = np.arange(n)[:, None] * k

    def counts(codes: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        weights = None if where is None else where.ravel()
        flat = np.bincount((offsets + codes).ravel(), weights=weights, minlength=n * k)
        return flat.reshape(n, k)

    resampled_true, resampled_predicted = true_codes[samples], predicted_codes[samples]
    in_truth, in_predictions = counts(resampled_true), counts(resampled_predicted)
    hits = counts(resampled_true, resampled_true == resampled_predicted)
    present = (in_truth + in_predictions) > 0
    # F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (true count + predicted count)
    f1 = np.where(present, 2 * hits / np.maximum(in_truth + in_predictions, 1), 0.0)
    return f1.sum(axis=1) / present.sum(axis=1)


def compute_metrics(
    truth: list[str],
    probabilities: np.ndarray,
    labels: list[str],
    word_counts: np.ndarray,
    short_words: int,
    groups: dict[str, tuple[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """Metrics of predictions ``probabilities`` (columns in ``labels`` order) against ``truth``.

    Besides the short/long slices, ``groups`` (name -> definition, row mask), e.g. one per
    language, get a slice each, with bootstrap intervals.
    """
    predicted, _ = top_labels(probabilities, labels)
    unknown = sorted(set(truth) - set(labels))
    if unknown:
        raise DataError(f"the test data has labels the model does not know: {', '.join(unknown)}")
    metrics: dict[str, Any] = _overall(truth, predicted)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    metrics["per_class"] = {
        label: {
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }
        for label, p, r, f, s in zip(labels, precision, recall, f1, support)
    }
    correct = np.asarray(truth) == np.asarray(predicted)
    metrics["calibration"] = {
        "ece": expected_calibration_error(probabilities, correct),
        "log_loss": float(log_loss(truth, probabilities, labels=labels)),
        "mean_confidence": float(probabilities.max(axis=1).mean()),
    }
    short = word_counts <= short_words
    truth_arr, predicted_arr = np.asarray(truth), np.asarray(predicted)
    metrics["slices"] = {
        name: {
            "definition": definition,
            **_overall(list(truth_arr[mask]), list(predicted_arr[mask])),
        }
        for name, definition, mask in (
            ("short", f"<= {short_words} words", short),
            ("long", f"> {short_words} words", ~short),
        )
        if mask.any()
    }
    for name, (definition, mask) in (groups or {}).items():
        if mask.any():
            group_truth, group_predicted = truth_arr[mask], predicted_arr[mask]
            metrics["slices"][name] = {
                "definition": definition,
                **_overall(list(group_truth), list(group_predicted)),
                **bootstrap_intervals(group_truth, group_predicted),
                "ece": expected_calibration_error(probabilities[mask], correct[mask]),
            }
    metrics["confusion_matrix"] = {
        "labels": labels,
        "matrix": confusion_matrix(truth, predicted, labels=labels).tolist(),
    }
    return metrics


def column_groups(frame: pd.DataFrame) -> dict[str, tuple[str, np.ndarray]]:
    """One group per language and per source, where a frame has several of them."""
    groups = {}
    for column in (LANGUAGE, SOURCE):
        if column not in frame.columns:
            continue
        values = frame[column].fillna("").astype(str).to_numpy()
        present = sorted(set(values) - {""})
        if len(present) < 2:  # one group would be the whole frame again
            continue
        for value in present:
            groups[f"{column}_{value}"] = (f"{column} = {value}", values == value)
    return groups


def evaluate_frame(
    classifier: Classifier, frame: pd.DataFrame, short_words: int
) -> tuple[dict, list[str]]:
    """Evaluate ``classifier`` on a ``text``/``label`` frame; return metrics and predictions.

    A frame with a ``language`` (or ``source``) column is also sliced by its values.
    """
    probabilities = classifier.predict_proba(frame[TEXT].tolist())
    word_counts = frame[TEXT].str.split().str.len().to_numpy()
    metrics = compute_metrics(
        frame[LABEL].tolist(),
        probabilities,
        classifier.labels,
        word_counts,
        short_words,
        groups=column_groups(frame),
    )
    metrics["model"] = {"name": classifier.name, "version": classifier.version}
    predicted, _ = top_labels(probabilities, classifier.labels)
    return metrics, predicted


def training_scrubber(params: DataParams) -> Callable[[str], str]:
    """How training and evaluation texts are scrubbed: the agent's own scrubbing, names
    included unless ``data.scrub_names`` is false."""
    return partial(scrub_for_model, person_names=params.scrub_names)


def load_eval_data(path: Path, params: DataParams) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a labelled CSV for evaluation: PII masked as the agent masks it, empty rows dropped
    (and counted), nothing else."""
    text_columns, label_column = resolve_columns(Path(path), params)
    frame, report = load_tickets(
        path, text_columns, label_column, deduplicate=False, scrub=training_scrubber(params)
    )
    return frame, {
        "path": str(path),
        "sha256": report.sha256,
        "rows_read": report.rows_read,
        "rows_dropped_empty": report.empty_text_dropped + report.empty_label_dropped,
    }


def plot_confusion_matrix(metrics: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    labels = metrics["confusion_matrix"]["labels"]
    matrix = np.asarray(metrics["confusion_matrix"]["matrix"])
    figure, axis = plt.subplots(figsize=(1.1 * len(labels) + 3, 1.0 * len(labels) + 2))
    ConfusionMatrixDisplay(matrix, display_labels=labels).plot(
        ax=axis, xticks_rotation=45, colorbar=False, values_format="d"
    )
    model = metrics.get("model", {})
    axis.set_title(
        f"{model.get('name', 'model')} v{model.get('version', '?')}: "
        f"macro-F1 {metrics['macro_f1']:.3f}, accuracy {metrics['accuracy']:.3f}"
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_outputs(
    metrics: dict, truth: list[str], predicted: list[str], output: Path
) -> dict[str, Path]:
    """Write the metrics JSON, the confusion-matrix PNG and the per-ticket label CSV beside it.

    The CSV holds only the true and predicted labels (no ticket text), for DVC's confusion plot.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    stem = output.with_suffix("")
    figure = plot_confusion_matrix(metrics, stem.parent / f"{stem.name}_confusion_matrix.png")
    predictions = stem.parent / f"{stem.name}_predictions.csv"
    pd.DataFrame({"actual": truth, "predicted": predicted}).to_csv(predictions, index=False)
    return {"metrics": output, "confusion_matrix": figure, "predictions": predictions}

"""Drift: do the tickets coming in still look like the ones the model was trained and validated on?

Each trained model carries a *reference profile* (``drift_reference.json``, in its MLflow run and
its folder): for the validation tickets, the mix of detected languages, the length in words, the
model's confidence, the predicted categories and, for TF-IDF, the share of words outside its
vocabulary. A *live profile* is the same, built from the tickets the agent stored over a time
window. Each feature is compared by the Jensen-Shannon distance (base 2: 0 = same distribution,
1 = disjoint) between the two histograms, computed by SciPy.

Why not Evidently, NannyML or whylogs (the issue asked to choose): measured on this project's
pinned stack, Evidently 0.7.23 does not import with pandas 3.1 (``ImportError:
infer_dtype_from_object``), NannyML 0.13.1 would add 33 packages to the agent (xgboost,
lightgbm, a CUDA NCCL wheel, cloud storage clients, a telemetry client) for one distance, and
whylogs' drift needs its visualisation extra. The histograms are ours (fixed bins, so that a
reference and a live window are comparable), the statistic is SciPy's, the plots are matplotlib's.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from callcenterai.agent.language import detect_language
from callcenterai.models.base import Classifier, top_labels
from callcenterai.registry import download_run_file
from callcenterai.tickets.store import TicketStore

REFERENCE_FILE = "drift_reference.json"
LANGUAGES = ("en", "fr", "ar", "und")
# Fixed bin edges (the last bin is open): the same for every model, reference and window.
NUMERIC_BINS = {
    "words": (0, 5, 10, 20, 40, 80, 160),
    "confidence": (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
    "unknown_words": (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0),
}
FEATURES = ("language", "words", "confidence", "label", "unknown_words")
ALERT_THRESHOLD = 0.2  # deploy/prometheus/alerts.yml fires above it (a test keeps them equal)
SMOOTHING = 0.5  # added to every bin count, so that an empty bin is not an infinite surprise


def _bin_names(edges: Sequence[float]) -> list[str]:
    names = [f"[{lo:g}, {hi:g})" for lo, hi in zip(edges, edges[1:])]
    return names + [f">= {edges[-1]:g}"]


def _numeric_counts(values: Sequence[float], edges: Sequence[float]) -> dict[str, int]:
    array = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    index = np.searchsorted(np.asarray(edges[1:], dtype=float), array, side="right")
    counts = np.bincount(index, minlength=len(edges))
    return {name: int(count) for name, count in zip(_bin_names(edges), counts)}


@dataclass
class Profile:
    """Histograms of one set of tickets, feature -> bin -> count."""

    tickets: int
    histograms: dict[str, dict[str, int]]
    model: dict[str, str] = field(default_factory=dict)
    window: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "tickets": self.tickets,
            "histograms": self.histograms,
            "model": self.model,
            "window": self.window,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Profile:
        return cls(
            data["tickets"], data["histograms"], data.get("model", {}), data.get("window", {})
        )

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return path


def build_profile(
    languages: Sequence[str],
    words: Sequence[int],
    confidences: Sequence[float],
    labels: Sequence[str],
    unknown_words: Sequence[float | None] | None = None,
) -> Profile:
    """The histograms of a set of tickets (one value per ticket in each sequence)."""
    language = Counter(code if code in LANGUAGES else "other" for code in languages)
    histograms = {
        "language": dict(language),
        "words": _numeric_counts(words, NUMERIC_BINS["words"]),
        "confidence": _numeric_counts(confidences, NUMERIC_BINS["confidence"]),
        "label": dict(Counter(labels)),
    }
    known = [share for share in (unknown_words or []) if share is not None]
    if known:
        histograms["unknown_words"] = _numeric_counts(known, NUMERIC_BINS["unknown_words"])
    return Profile(tickets=len(labels), histograms=histograms)


def reference_profile(model: Classifier, frame: pd.DataFrame) -> Profile:
    """The profile of the validation tickets (``text``) as ``model`` sees them."""
    texts = frame["text"].astype(str).tolist()
    labels, confidences = top_labels(model.predict_proba(texts), model.labels)
    profile = build_profile(
        [detect_language(text).code for text in texts],
        [len(text.split()) for text in texts],
        [float(c) for c in confidences],
        labels,
        model.unknown_word_share(texts),
    )
    profile.model = {"name": model.name, "version": str(model.version)}
    return profile


def live_profile(store: TicketStore, kind: str, since: datetime, until: datetime) -> Profile:
    """The profile of the tickets ``kind`` answered or was asked about in a window of the store:
    its own confidence and label (not the final answer's), so that it compares with its
    reference even when the other model gave the answer."""
    rows = [row for row in store.window(since, until) if row[f"{kind}_label"] is not None]
    profile = build_profile(
        [row["language"] for row in rows],
        [len(row["text"].split()) for row in rows],
        [row[f"{kind}_confidence"] for row in rows],
        [row[f"{kind}_label"] for row in rows],
        [row["unknown_word_share"] for row in rows] if kind == "tfidf" else None,
    )
    profile.window = window_label(since, until)
    return profile


def load_reference(model_name: str, version: str, tracking_uri: str | None = None) -> Profile:
    """The reference profile of a registered model version (its training run's artifact)."""
    text = download_run_file(model_name, version, REFERENCE_FILE, tracking_uri)
    return Profile.from_dict(json.loads(text))


def distance(reference: dict[str, int], live: dict[str, int]) -> float:
    """Jensen-Shannon distance (base 2) between two histograms, over the union of their bins."""
    bins = sorted(set(reference) | set(live))
    p = np.array([reference.get(b, 0) + SMOOTHING for b in bins], dtype=float)
    q = np.array([live.get(b, 0) + SMOOTHING for b in bins], dtype=float)
    return round(float(jensenshannon(p, q, base=2)), 4)


def compare(reference: Profile, live: Profile) -> dict[str, float]:
    """Feature -> distance, for the features both profiles have."""
    return {
        feature: distance(reference.histograms[feature], live.histograms[feature])
        for feature in FEATURES
        if feature in reference.histograms and feature in live.histograms
    }


# -- the report ------------------------------------------------------------------------------


def _plot(feature: str, reference: dict[str, int], live: dict[str, int]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if feature in NUMERIC_BINS:
        bins = _bin_names(NUMERIC_BINS[feature])
    else:
        bins = sorted(set(reference) | set(live), key=lambda b: -reference.get(b, 0))
    ref_total, live_total = max(sum(reference.values()), 1), max(sum(live.values()), 1)
    x = np.arange(len(bins))
    figure, axes = plt.subplots(figsize=(7, 2.8))
    axes.bar(x - 0.2, [reference.get(b, 0) / ref_total for b in bins], 0.4, label="reference")
    axes.bar(x + 0.2, [live.get(b, 0) / live_total for b in bins], 0.4, label="window")
    axes.set_xticks(x, bins, rotation=30, ha="right", fontsize=8)
    axes.set_ylabel("share of tickets")
    axes.set_title(feature)
    axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_report(
    reference: Profile, live: Profile, distances: dict[str, float], threshold: float, path: Path
) -> Path:
    """A self-contained HTML page: the distances and, per feature, both histograms."""
    rows, figures = [], []
    for feature, value in distances.items():
        state = "DRIFT" if value > threshold else "ok"
        rows.append(f"<tr><td>{feature}</td><td>{value:.3f}</td><td>{state}</td></tr>")
        image = _plot(feature, reference.histograms[feature], live.histograms[feature])
        figures.append(
            f'<h3>{feature}</h3><img alt="{feature}" src="data:image/png;base64,{image}">'
        )
    model = html.escape(" ".join(f"{k}={v}" for k, v in reference.model.items()))
    window = html.escape(" to ".join(live.window.values()))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CallCenterAI drift report</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto}}
td,th{{padding:.2rem .8rem;border-bottom:1px solid #ddd}}</style></head><body>
<h1>Drift report</h1>
<p>Model: {model}. Reference: {reference.tickets} validation tickets. Window: {window},
{live.tickets} tickets. Jensen-Shannon distance (base 2) per feature; above {threshold:g} is
reported as drift (the threshold of the Prometheus alert).</p>
<table><tr><th>feature</th><th>distance</th><th>state</th></tr>{''.join(rows)}</table>
{''.join(figures)}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def window_label(since: datetime, until: datetime) -> dict[str, str]:
    return {
        "since": since.isoformat(timespec="seconds"),
        "until": until.isoformat(timespec="seconds"),
    }

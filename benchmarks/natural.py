"""Natural tickets: how much the natural corpus should weigh in TF-IDF training, and what it gives.

Run with ``python -m benchmarks.natural`` (it reads the shipped Kaggle tickets, data/reference).
The corpus weight is chosen on the validation splits only (the mean of the Kaggle validation
macro-F1 and the natural validation macro-F1); the natural evaluation set and the Kaggle test
split are then measured once for the chosen weight and, for comparison, for Kaggle alone (weight
0). Writes ``reports/benchmarks/natural_tfidf.json`` and re-renders ``reports/benchmark.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.report import REPORT_DIR, render_report
from callcenterai.config import PROJECT_ROOT, load_params
from callcenterai.data import SOURCE, read_split
from callcenterai.evaluate import evaluate_frame, load_eval_data
from callcenterai.models.tfidf import TfidfClassifier
from callcenterai.pipeline import Layout, stage_prepare
from callcenterai.train import sample_weights

LANGUAGES = ("en", "fr", "ar")


def language_scores(metrics: dict) -> dict:
    scores = {}
    for code in LANGUAGES:
        piece = metrics["slices"].get(f"language_{code}")
        if piece:
            keys = ("n", "accuracy", "macro_f1", "accuracy_ci95", "macro_f1_ci95", "ece")
            scores[code] = {key: piece[key] for key in keys}
    return scores


def fit(train, params, weight: float) -> tuple[TfidfClassifier, float]:
    """TF-IDF on Kaggle + natural tickets of weight ``weight`` (0: Kaggle alone)."""
    if weight == 0:
        train, weights = train[train[SOURCE] != "natural"], None
    else:
        natural = params.natural.model_copy(update={"weight": weight})
        weights = sample_weights(train, params.model_copy(update={"natural": natural}))
    started = time.perf_counter()
    model = TfidfClassifier.train(
        train["text"], train["label"], params.tfidf, params.data.seed, sample_weight=weights
    )
    return model, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--input",
        type=Path,
        default=PROJECT_ROOT / "data" / "reference" / "kaggle_it_tickets.csv.xz",
    )
    parser.add_argument("--weights", type=float, nargs="+", default=[0, 1, 2, 4, 8])
    args = parser.parse_args()
    params = load_params()
    short = params.data.short_ticket_words
    with tempfile.TemporaryDirectory() as tmp:
        layout = Layout(Path(tmp))
        report = stage_prepare(args.input, layout, params)
        train, val = read_split(layout.split("train")), read_split(layout.split("val"))
        test = read_split(layout.split("test"))
    natural_eval, eval_info = load_eval_data(params.natural.path("eval"), params.data)
    val_natural = val[val[SOURCE] == "natural"]
    val_kaggle = val[val[SOURCE] != "natural"]

    candidates = []
    models = {}
    for weight in args.weights:
        model, seconds = fit(train, params, weight)
        kaggle_val, _ = evaluate_frame(model, val_kaggle, short)
        natural_val, _ = evaluate_frame(model, val_natural, short)
        score = (kaggle_val["macro_f1"] + natural_val["macro_f1"]) / 2
        candidates.append(
            {
                "weight": weight,
                "train_seconds": round(seconds, 1),
                "kaggle_val_macro_f1": kaggle_val["macro_f1"],
                "natural_val_macro_f1": natural_val["macro_f1"],
                "natural_val_languages": language_scores(natural_val),
                "criterion": score,
            }
        )
        models[weight] = model
        print(json.dumps(candidates[-1]))
    chosen = max(candidates, key=lambda c: c["criterion"])["weight"]

    measured = {}
    for name, weight in (("kaggle_only", 0), ("chosen", chosen)):
        if weight not in models:
            models[weight], _ = fit(train, params, weight)
        test_metrics, _ = evaluate_frame(models[weight], test, short)
        eval_metrics, _ = evaluate_frame(models[weight], natural_eval, short)
        measured[name] = {
            "weight": weight,
            "kaggle_test_macro_f1": test_metrics["macro_f1"],
            "kaggle_test_accuracy": test_metrics["accuracy"],
            "natural_eval_accuracy": eval_metrics["accuracy"],
            "natural_eval_macro_f1": eval_metrics["macro_f1"],
            "natural_eval_ece": eval_metrics["calibration"]["ece"],
            "natural_eval_languages": language_scores(eval_metrics),
        }
    result = {
        "command": "python -m benchmarks.natural",
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "data": {
            "kaggle_sha256": report.sha256,
            "natural_rows": report.natural_rows,
            "train_rows": len(train),
            "val_rows": {"kaggle": len(val_kaggle), "natural": len(val_natural)},
            "test_rows": len(test),
            "eval": {"path": eval_info["path"], "rows": len(natural_eval)},
        },
        "criterion": "mean of Kaggle validation macro-F1 and natural validation macro-F1",
        "candidates": candidates,
        "chosen_weight": chosen,
        "measured": measured,
    }
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "natural_tfidf.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(measured, indent=2))
    print(render_report())


if __name__ == "__main__":
    main()

"""Benchmark of the TF-IDF model on the Kaggle tickets: quality, training time, prediction speed.

Run with ``make benchmark`` (or ``python -m benchmarks.tfidf --input PATH``). It writes
``reports/benchmarks/tfidf.json`` and re-renders ``reports/benchmark.md``.

Quality is measured on the pipeline's own split (seed from params.yaml) and, so that one lucky
split does not decide, on five more seeded splits. Timings are wall-clock on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from benchmarks.report import REPORT_DIR, render_report
from callcenterai.config import load_params
from callcenterai.data import load_tickets, split_tickets
from callcenterai.evaluate import evaluate_frame
from callcenterai.models.tfidf import TfidfClassifier

PUBLISHED = {
    "source": "published TF-IDF + LinearSVC results on this dataset (as quoted in the issue)",
    "macro_f1": 0.861,
    "accuracy": 0.860,
    "per_class_f1": {"Administrative rights": 0.75, "Miscellaneous": 0.83},
}
ROBUSTNESS_SEEDS = (1, 2, 3, 4, 5)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def train_and_score(frame, params, seed: int) -> tuple[TfidfClassifier, dict, float, object]:
    data_params = params.data.model_copy(update={"seed": seed})
    splits = split_tickets(frame, data_params)
    started = time.perf_counter()
    model = TfidfClassifier.train(
        splits["train"]["text"], splits["train"]["label"], params.tfidf, seed=seed
    )
    seconds = time.perf_counter() - started
    metrics, _ = evaluate_frame(model, splits["test"], params.data.short_ticket_words)
    return model, metrics, seconds, splits


def measure_latency(model: TfidfClassifier, texts: list[str]) -> dict:
    model.predict_proba(texts[:5])  # warm-up
    single = []
    for text in texts[:500]:
        started = time.perf_counter()
        model.predict_proba([text])
        single.append((time.perf_counter() - started) * 1000)
    explain = []
    for text in texts[:200]:
        started = time.perf_counter()
        model.explain(text)
        explain.append((time.perf_counter() - started) * 1000)
    batch = texts[:1000]
    batch_seconds = []
    for _ in range(5):
        started = time.perf_counter()
        model.predict_proba(batch)
        batch_seconds.append(time.perf_counter() - started)
    return {
        "single_ticket_ms": {
            "n": len(single),
            "p50": percentile(single, 50),
            "p95": percentile(single, 95),
            "p99": percentile(single, 99),
        },
        "single_ticket_per_second": 1000 / statistics.mean(single),
        "explain_ms": {"p50": percentile(explain, 50), "p95": percentile(explain, 95)},
        "batch_1000": {
            "median_seconds": statistics.median(batch_seconds),
            "tickets_per_second": len(batch) / statistics.median(batch_seconds),
        },
    }


def run(input_path: Path, params_path: Path | None) -> dict:
    params = load_params(params_path)
    frame, report = load_tickets(
        input_path,
        params.data.text_columns,
        params.data.label_column,
        min_per_label=params.data.min_per_label,
    )
    official_seed = params.data.seed
    train_seconds = []
    for _ in range(3):
        model, metrics, seconds, splits = train_and_score(frame, params, official_seed)
        train_seconds.append(seconds)
    robustness = {}
    for seed in ROBUSTNESS_SEEDS:
        _, seed_metrics, _, _ = train_and_score(frame, params, seed)
        robustness[str(seed)] = {
            "macro_f1": seed_metrics["macro_f1"],
            "accuracy": seed_metrics["accuracy"],
        }
    seed_f1 = [r["macro_f1"] for r in robustness.values()]
    test_texts = splits["test"]["text"].tolist()
    return {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": f"python -m benchmarks.tfidf --input {input_path}",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "processor": platform.machine(),
        },
        "data": {
            "source": str(input_path),
            "sha256": report.sha256,
            "rows": report.rows_kept,
            "train_rows": len(splits["train"]),
            "test_rows": len(splits["test"]),
        },
        "params": params.tfidf.model_dump(),
        "official_split": {
            "seed": official_seed,
            "macro_f1": metrics["macro_f1"],
            "accuracy": metrics["accuracy"],
            "weighted_f1": metrics["weighted_f1"],
            "ece": metrics["calibration"]["ece"],
            "log_loss": metrics["calibration"]["log_loss"],
            "per_class_f1": {k: v["f1"] for k, v in metrics["per_class"].items()},
            "slices": {k: v["macro_f1"] for k, v in metrics["slices"].items()},
        },
        "other_splits": {
            "seeds": robustness,
            "macro_f1_mean": statistics.mean(seed_f1),
            "macro_f1_std": statistics.stdev(seed_f1),
            "macro_f1_min": min(seed_f1),
            "macro_f1_max": max(seed_f1),
        },
        "training_seconds": {
            "runs": train_seconds,
            "median": statistics.median(train_seconds),
        },
        "prediction": measure_latency(model, test_texts),
        "published": PUBLISHED,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--input", type=Path, default=Path("data/reference/kaggle_it_tickets.csv.xz")
    )
    parser.add_argument("--params", type=Path, default=None)
    args = parser.parse_args()
    results = run(args.input, args.params)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "tfidf.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"report: {render_report()}")


if __name__ == "__main__":
    main()

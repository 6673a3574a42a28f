"""The first start's transformer (params.yaml ``quick``) next to the full one and TF-IDF.

Run after ``dvc repro`` with ``python -m benchmarks.quick_transformer``: trains the quick profile
on the pipeline's splits (as ``callcenterai up`` does on a fresh clone, with the offline base model
already built), times it, and scores it on the Kaggle test split and on the natural evaluation set
per language, beside the committed full transformer (``reports/transformer``) and TF-IDF
(``reports/tfidf``). The MLflow run goes to a temporary store. Writes
``reports/benchmarks/quick_transformer.json`` and re-renders ``reports/benchmark.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

from benchmarks.natural import language_scores
from benchmarks.report import REPORT_DIR, render_report
from callcenterai.config import PROJECT_ROOT, load_params
from callcenterai.data import read_split
from callcenterai.evaluate import evaluate_frame, load_eval_data
from callcenterai.models.store import load_classifier
from callcenterai.pipeline import Layout
from callcenterai.train import train_model


def committed(kind: str) -> dict:
    folder = PROJECT_ROOT / "reports" / kind
    test = json.loads((folder / "metrics.json").read_text())
    natural = json.loads((folder / "natural_metrics.json").read_text())
    return {
        "kaggle_test_macro_f1": test["macro_f1"],
        "kaggle_test_accuracy": test["accuracy"],
        "natural_eval_accuracy": natural["accuracy"],
        "natural_eval_languages": language_scores(natural),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--set", action="append", default=[], help="Try another profile: KEY=VALUE (repeatable)."
    )
    parser.add_argument("--output", type=Path, default=REPORT_DIR / "quick_transformer.json")
    args = parser.parse_args()
    params = load_params()
    for item in args.set:
        key, _, value = item.partition("=")
        params.quick.transformer[key] = yaml.safe_load(value)
    quick = params.quick_profile()
    layout = Layout(PROJECT_ROOT)
    train, val = read_split(layout.split("train")), read_split(layout.split("val"))
    test = read_split(layout.split("test"))
    natural_eval, _ = load_eval_data(params.natural.path("eval"), params.data)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        started = time.perf_counter()
        result = train_model("transformer", train, val, Path(tmp) / "model", quick, register=False)
        seconds = time.perf_counter() - started
        model = load_classifier(Path(tmp) / "model")
        test_metrics, _ = evaluate_frame(model, test, params.data.short_ticket_words)
        natural_metrics, _ = evaluate_frame(model, natural_eval, params.data.short_ticket_words)
    results = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(
            ["python -m benchmarks.quick_transformer", *(f"--set {x}" for x in args.set)]
        ),
        "machine": {"cpus": os.cpu_count()},
        "quick_overrides": params.quick.transformer,
        "train_rows": result.val_metrics.get("train_rows"),
        "seconds": {
            "train_model": round(seconds, 1),
            "fine_tune": round(result.train_seconds, 1),
        },
        "quick": {
            "kaggle_test_macro_f1": test_metrics["macro_f1"],
            "kaggle_test_accuracy": test_metrics["accuracy"],
            "natural_eval_accuracy": natural_metrics["accuracy"],
            "natural_eval_languages": language_scores(natural_metrics),
            "val_macro_f1": result.val_metrics["macro_f1"],
        },
        "full_transformer": committed("transformer"),
        "tfidf": committed("tfidf"),
    }
    print(json.dumps(results, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"report: {render_report()}")


if __name__ == "__main__":
    main()

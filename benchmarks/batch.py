"""Batch classification throughput: one process against Ray with 1 and 2 workers, same run.

Tickets are drawn (with replacement, seeded) from the Kaggle test split and given unique ids;
each configuration classifies the same file with ``callcenterai batch`` in a fresh process (so
Ray's start-up and the actors' model loading are counted, as a user would see them), and the
time inside :func:`callcenterai.batch.classify_file` is reported too. Run after ``dvc repro``:
``python -m benchmarks.batch``; writes ``reports/benchmarks/batch.json`` and re-renders
``reports/benchmark.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from benchmarks.report import REPORT_DIR, render_report
from benchmarks.services import local_env
from callcenterai.data import read_split


def run(model: str, input_path: Path, output: Path, workers: int, batch_size: int) -> dict:
    env = local_env(CALLCENTERAI_LOG_LEVEL="WARNING")
    started = time.perf_counter()
    completed = subprocess.run(
        [
            sys.executable, "-m", "callcenterai", "batch",
            "--input", str(input_path), "--output", str(output), "--model", model,
            "--workers", str(workers), "--batch-size", str(batch_size),
            "--tfidf-model", "models/tfidf", "--transformer-model", "models/transformer",
        ],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-2000:])
    summary = json.loads(completed.stdout[completed.stdout.index("{") :])
    return {
        "workers": workers,
        "tickets": summary["tickets"],
        "wall_seconds": round(wall, 1),
        "classify_seconds": summary["seconds"],
        "tickets_per_second_wall": round(summary["tickets"] / wall, 1),
        "tickets_per_second": summary["tickets_per_second"],
        "model_used": summary["model_used"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tfidf-tickets", type=int, default=100_000)
    parser.add_argument("--transformer-tickets", type=int, default=4_000)
    args = parser.parse_args()
    test = read_split(Path("data/processed/test.csv"))
    results = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": f"python -m benchmarks.batch --tfidf-tickets {args.tfidf_tickets} "
        f"--transformer-tickets {args.transformer_tickets}",
        "machine": {"cpus": os.cpu_count()},
        "runs": {},
    }
    with tempfile.TemporaryDirectory() as folder:
        for model, count, batch_size in (
            ("tfidf", args.tfidf_tickets, 2048),
            ("transformer", args.transformer_tickets, 64),
        ):
            tickets = test.sample(n=count, replace=True, random_state=0)
            frame = pd.DataFrame({"id": range(count), "text": tickets["text"].tolist()})
            path = Path(folder) / f"{model}.parquet"
            frame.to_parquet(path)
            results["runs"][model] = []
            for workers in (0, 1, 2):
                output = Path(folder) / f"{model}-{workers}.parquet"
                result = run(model, path, output, workers, batch_size)
                results["runs"][model].append(result)
                print(model, json.dumps(result), flush=True)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "batch.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"report: {render_report()}")


if __name__ == "__main__":
    main()

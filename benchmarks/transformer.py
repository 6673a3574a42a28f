"""Benchmark of the fine-tuned transformer: PyTorch fp32 vs ONNX fp32 vs ONNX int8, and languages.

Run after ``dvc repro`` (it reads ``models/transformer_torch``, the test split and the
multilingual set) with ``python -m benchmarks.transformer``. Each variant is measured in its own
process, one after the other, so that peak memory is its own and no two compete for the CPUs.
Writes ``reports/benchmarks/transformer.json`` and re-renders ``reports/benchmark.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from benchmarks.report import REPORT_DIR, render_report
from callcenterai.models.base import top_labels

MULTILINGUAL = Path("data/eval/multilingual_tickets.csv")
VARIANTS = (
    "pytorch_fp32", "onnx_fp32", "onnx_int8", "onnx_int8_matmul", "onnx_int8_per_channel"
)  # fmt: skip
ONNX_DIRS = {
    "onnx_fp32": "fp32",
    "onnx_int8": "int8",
    "onnx_int8_matmul": "int8_matmul",
    "onnx_int8_per_channel": "int8_per_channel",
}


def _load(variant: str, torch_dir: Path, onnx_dir: Path, threads: int):
    if variant == "pytorch_fp32":
        import torch

        from callcenterai.models.finetune import TorchClassifier

        torch.set_num_threads(threads)
        return TorchClassifier.load(torch_dir, batch_size=32)
    from callcenterai.models.transformer import TransformerClassifier

    return TransformerClassifier(onnx_dir / ONNX_DIRS[variant], threads=threads)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would include the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _latency(model, text: str, repeats: int) -> dict:
    model.predict_proba([text])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.predict_proba([text])
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95))}


def measure_variant(
    variant: str, torch_dir: Path, onnx_dir: Path, threads: int, max_test: int | None = None
) -> dict:
    """Runs inside a worker process: quality on the test split, latency, throughput, memory."""
    import pandas as pd

    from callcenterai.config import load_params
    from callcenterai.data import read_split
    from callcenterai.evaluate import evaluate_frame

    params = load_params()
    started = time.perf_counter()
    model = _load(variant, torch_dir, onnx_dir, threads)
    load_seconds = time.perf_counter() - started
    test = read_split(Path("data/processed/test.csv"))
    if max_test:
        test = test.iloc[:max_test]
    started = time.perf_counter()
    metrics, _ = evaluate_frame(model, test, params.data.short_ticket_words)
    test_seconds = time.perf_counter() - started
    words = test["text"].str.split().str.len()
    median_text = test["text"][(words - words.median()).abs().idxmin()]
    long_text = test["text"][(words - words.quantile(0.95)).abs().idxmin()]
    batch = test["text"].tolist()[:256]
    batch_times = []
    for _ in range(3):
        batch_started = time.perf_counter()
        model.predict_proba(batch)
        batch_times.append(time.perf_counter() - batch_started)
    languages = {}
    multilingual = pd.read_csv(MULTILINGUAL, dtype=str, keep_default_na=False)
    predicted, _ = top_labels(model.predict_proba(multilingual["text"]), model.labels)
    predicted = np.asarray(predicted)
    for language, rows in multilingual.groupby("language"):
        languages[language] = float((predicted[rows.index] == rows["label"]).mean())
    return {
        "variant": variant,
        "threads": threads,
        "load_seconds": load_seconds,
        "test_macro_f1": metrics["macro_f1"],
        "test_accuracy": metrics["accuracy"],
        "test_per_class_f1": {k: v["f1"] for k, v in metrics["per_class"].items()},
        "test_seconds": test_seconds,
        "test_tickets_per_second": len(test) / test_seconds,
        "median_ticket": {
            "words": int(len(median_text.split())),
            **_latency(model, median_text, 60),
        },
        "long_ticket": {"words": int(len(long_text.split())), **_latency(model, long_text, 30)},
        "batch_256_tickets_per_second": len(batch) / statistics.median(batch_times),
        "multilingual_accuracy": languages,
        "peak_rss_mb": peak_rss_mb(),
    }


def tfidf_languages(model_dir: Path) -> dict:
    import pandas as pd

    from callcenterai.models.store import load_classifier

    model = load_classifier(str(model_dir))
    multilingual = pd.read_csv(MULTILINGUAL, dtype=str, keep_default_na=False)
    predicted = np.asarray(model.predict(multilingual["text"].tolist()))
    return {
        language: float((predicted[rows.index] == rows["label"]).mean())
        for language, rows in multilingual.groupby("language")
    }


def training_summary(model_dir: Path) -> dict:
    """Wall time and per-epoch validation scores of the run that trained ``model_dir``."""
    import mlflow

    from callcenterai.tracking import setup_tracking

    setup_tracking()
    run_id = mlflow.models.get_model_info(str(model_dir)).metadata["run_id"]
    run = mlflow.get_run(run_id)
    client = mlflow.MlflowClient()
    epochs = {
        key: [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]
        for key in ("val_macro_f1_epoch", "train_loss", "epoch_seconds")
    }
    metrics = run.data.metrics
    return {
        "run_id": run_id,
        "train_rows": int(run.data.params["data.train_rows"]),
        "train_seconds": metrics["train_seconds"],
        "best_epoch": int(metrics["best_epoch"]),
        "val_macro_f1": {
            "pytorch": metrics["val_macro_f1_torch"],
            "onnx_fp32": metrics["val_macro_f1_onnx_fp32"],
            "onnx_int8": metrics["val_macro_f1_onnx_int8"],
        },
        "serving_precision": run.data.tags.get("serving_precision"),
        "epochs": epochs,
    }


def export_variants(torch_dir: Path, onnx_dir: Path, quantize_embeddings: bool) -> dict:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from callcenterai.models.finetune import export_onnx, quantize_int8, write_serving_dir

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(torch_dir, Path(tmp) / "model.fp32.onnx")
        int8 = quantize_int8(fp32, Path(tmp) / "model.int8.onnx", quantize_embeddings)
        # The same without the embedding matrix: bigger file, maybe closer to fp32.
        matmul = quantize_int8(fp32, Path(tmp) / "model.int8_matmul.onnx", False)
        # One scale per output channel of each weight matrix (not one per tensor), MatMul/Gemm
        # only: the candidate for keeping fp32's accuracy at int8's speed.
        per_channel = Path(tmp) / "model.int8_per_channel.onnx"
        quantize_dynamic(
            str(fp32),
            str(per_channel),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm"],
            per_channel=True,
        )
        sizes = {}
        variants = (
            ("fp32", fp32), ("int8", int8), ("int8_matmul", matmul),
            ("int8_per_channel", per_channel),
        )  # fmt: skip
        for name, path in variants:
            write_serving_dir(torch_dir, path, onnx_dir / name)
            sizes[f"onnx_{name}"] = path.stat().st_size / 2**20
    sizes["pytorch_fp32"] = sum(f.stat().st_size for f in torch_dir.glob("*.safetensors")) / 2**20
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-dir", type=Path, default=Path("models/transformer_torch"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--max-test", type=int, help="Evaluate on the first N test tickets only.")
    parser.add_argument("--model-dir", type=Path, default=Path("models/transformer"))
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--onnx-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:  # worker mode
        print(
            json.dumps(
                measure_variant(
                    args.variant, args.torch_dir, args.onnx_dir, args.threads, args.max_test
                )
            )
        )
        return

    from callcenterai.config import load_params

    params = load_params()
    results: dict = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.transformer",
        "machine": {"cpus": os.cpu_count()},
        "base_model": params.transformer.base_model,
        "max_length": params.transformer.max_length,
        "variants": {},
    }
    results["training"] = training_summary(args.model_dir)
    with tempfile.TemporaryDirectory() as onnx_dir:
        results["size_mb"] = export_variants(
            args.torch_dir, Path(onnx_dir), params.transformer.quantize_embeddings
        )
        for variant in VARIANTS:
            command = [
                sys.executable, "-m", "benchmarks.transformer", "--variant", variant,
                "--torch-dir", str(args.torch_dir), "--onnx-dir", onnx_dir,
                "--threads", str(args.threads),
            ] + (["--max-test", str(args.max_test)] if args.max_test else [])  # fmt: skip
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            results["variants"][variant] = json.loads(output.strip().splitlines()[-1])
            print(variant, json.dumps(results["variants"][variant]), flush=True)
    results["tfidf_multilingual_accuracy"] = tfidf_languages(Path("models/tfidf"))
    if args.max_test:  # a smoke run: print, do not overwrite the committed report
        print(json.dumps(results, indent=2))
        return
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "transformer.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"report: {render_report()}")


if __name__ == "__main__":
    main()

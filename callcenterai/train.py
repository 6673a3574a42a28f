"""Training runs: fit a model on the prepared splits, track it in MLflow, register it.

Each run logs its parameters, validation metrics, data report, confusion matrix and
classification report, then logs the model, registers a new version and gives it the
``staging`` alias. The same model is written to a local folder for DVC and offline use.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd

from callcenterai.config import STAGING_ALIAS, TFIDF_MODEL_NAME, Params
from callcenterai.data import DataReport
from callcenterai.evaluate import evaluate_frame, plot_confusion_matrix
from callcenterai.models.store import log_tfidf, save_tfidf
from callcenterai.models.tfidf import TfidfClassifier
from callcenterai.registry import flatten_metrics, set_alias, setup_tracking

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model_dir: Path
    run_id: str
    registered_name: str | None
    registered_version: str | None
    train_seconds: float
    val_metrics: dict


def _log_json(data: dict, name: str, directory: Path) -> None:
    path = directory / name
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    mlflow.log_artifact(str(path))


def _log_run_inputs(
    kind: str,
    model_params: dict,
    params: Params,
    train: pd.DataFrame,
    val: pd.DataFrame,
    data_report: DataReport | dict | None,
    workdir: Path,
) -> None:
    """Tags, hyperparameters, data sizes and the data report of a training run."""
    mlflow.set_tags({"model_kind": kind, "stage": "train"})
    mlflow.log_params({f"{kind}.{k}": v for k, v in model_params.items()})
    mlflow.log_params(
        {"data.seed": params.data.seed, "data.train_rows": len(train), "data.val_rows": len(val)}
    )
    if data_report is not None:
        report = data_report if isinstance(data_report, dict) else data_report.__dict__
        mlflow.log_param("data.sha256", report.get("sha256"))
        _log_json(report, "data_report.json", workdir)


def _log_validation(val_metrics: dict, workdir: Path) -> None:
    """Validation metrics, classification report and confusion matrix of a training run."""
    mlflow.log_metrics(flatten_metrics(val_metrics, "val_"))
    _log_json(val_metrics["per_class"], "classification_report_val.json", workdir)
    figure = plot_confusion_matrix(val_metrics, workdir / "confusion_matrix_val.png")
    mlflow.log_artifact(str(figure))


def train_tfidf(
    train: pd.DataFrame,
    val: pd.DataFrame,
    output_dir: Path,
    params: Params,
    data_report: DataReport | dict | None = None,
    register: bool = True,
) -> TrainResult:
    """Train the TF-IDF model on ``train``, validate on ``val``, log and register it."""
    setup_tracking()
    with mlflow.start_run(run_name="tfidf") as run, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        _log_run_inputs(
            "tfidf", params.tfidf.model_dump(), params, train, val, data_report, workdir
        )

        started = time.perf_counter()
        classifier = TfidfClassifier.train(
            train["text"], train["label"], params.tfidf, seed=params.data.seed
        )
        train_seconds = time.perf_counter() - started
        vocabulary = len(classifier.vectorizer.vocabulary_)
        mlflow.log_metrics({"train_seconds": train_seconds, "vocabulary_size": vocabulary})

        val_metrics, _ = evaluate_frame(classifier, val, params.data.short_ticket_words)
        _log_validation(val_metrics, workdir)

        registered_name = TFIDF_MODEL_NAME if register else None
        info = log_tfidf(classifier, registered_name, {"run_id": run.info.run_id})
        version = str(info.registered_model_version) if register else None
        if register:
            set_alias(TFIDF_MODEL_NAME, STAGING_ALIAS, version)
        metadata = {"run_id": run.info.run_id, "tracking_uri": mlflow.get_tracking_uri()}
        if register:
            metadata.update(registered_model_name=registered_name, registered_model_version=version)
        save_tfidf(classifier, output_dir, metadata)
    logger.info(
        "trained tfidf in %.1fs: val macro-F1 %.4f, run %s, version %s",
        train_seconds,
        val_metrics["macro_f1"],
        run.info.run_id,
        version,
    )
    return TrainResult(
        output_dir, run.info.run_id, registered_name, version, train_seconds, val_metrics
    )


def _stratified_subset(frame: pd.DataFrame, size: int | None, seed: int) -> pd.DataFrame:
    if size is None or size >= len(frame):
        return frame
    from sklearn.model_selection import train_test_split

    subset, _ = train_test_split(frame, train_size=size, stratify=frame["label"], random_state=seed)
    return subset


def train_transformer(
    train: pd.DataFrame,
    val: pd.DataFrame,
    output_dir: Path,
    params: Params,
    data_report: DataReport | dict | None = None,
    register: bool = True,
    torch_dir: Path | None = None,
) -> TrainResult:
    """Fine-tune the transformer, export ONNX (fp32 and int8), log and register the serving model.

    The int8 model is served when its validation macro-F1 is within
    ``transformer.max_int8_f1_drop`` of PyTorch's; otherwise the fp32 ONNX model is. The
    fine-tuned PyTorch checkpoint is kept in ``torch_dir`` for benchmarks and parity checks.
    """
    from callcenterai.config import TRANSFORMER_MODEL_NAME
    from callcenterai.models.base_model import resolve_base_model
    from callcenterai.models.store import log_transformer, save_transformer
    from callcenterai.models.transformer import (
        TransformerClassifier,
        export_onnx,
        fine_tune,
        quantize_int8,
        write_serving_dir,
    )

    settings = params.transformer
    torch_dir = torch_dir or output_dir.parent / f"{output_dir.name}_torch"
    base_model = resolve_base_model(settings.base_model)
    train = _stratified_subset(train, settings.max_train_samples, params.data.seed)
    setup_tracking()
    with mlflow.start_run(run_name="transformer") as run, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        _log_run_inputs(
            "transformer", settings.model_dump(), params, train, val, data_report, workdir
        )

        def log_epoch(epoch_log) -> None:
            mlflow.log_metrics(
                {
                    "train_loss": epoch_log.train_loss,
                    "val_macro_f1_epoch": epoch_log.val_macro_f1,
                    "val_accuracy_epoch": epoch_log.val_accuracy,
                    "epoch_seconds": epoch_log.seconds,
                },
                step=epoch_log.epoch,
            )

        result = fine_tune(
            train["text"].tolist(),
            train["label"].tolist(),
            val["text"].tolist(),
            val["label"].tolist(),
            settings,
            base_model,
            torch_dir,
            seed=params.data.seed,
            on_epoch=log_epoch,
        )
        mlflow.log_metrics(
            {
                "train_seconds": result.train_seconds,
                "best_epoch": result.best_epoch,
                "val_macro_f1_torch": result.best_val_macro_f1,
            }
        )
        onnx_fp32 = export_onnx(torch_dir, workdir / "onnx" / "model.fp32.onnx")
        onnx_int8 = quantize_int8(
            onnx_fp32, workdir / "onnx" / "model.int8.onnx", settings.quantize_embeddings
        )
        scores = {}
        for label, onnx_path in (("fp32", onnx_fp32), ("int8", onnx_int8)):
            # The folder's name is the artifact's name in the MLflow model: always "serving".
            candidate = write_serving_dir(torch_dir, onnx_path, workdir / label / "serving")
            metrics, _ = evaluate_frame(
                TransformerClassifier(candidate), val, params.data.short_ticket_words
            )
            scores[label] = metrics
            mlflow.log_metric(f"val_macro_f1_onnx_{label}", metrics["macro_f1"])
            mlflow.log_metric(f"onnx_{label}_megabytes", onnx_path.stat().st_size / 2**20)
        drop = result.best_val_macro_f1 - scores["int8"]["macro_f1"]
        chosen = "int8" if drop <= settings.max_int8_f1_drop else "fp32"
        mlflow.set_tag("serving_precision", chosen)
        val_metrics = scores[chosen]
        _log_validation(val_metrics, workdir)
        serving = workdir / chosen / "serving"
        registered_name = TRANSFORMER_MODEL_NAME if register else None
        meta = {"run_id": run.info.run_id, "serving_precision": chosen}
        info = log_transformer(serving, registered_name, meta)
        version = str(info.registered_model_version) if register else None
        if register:
            set_alias(TRANSFORMER_MODEL_NAME, STAGING_ALIAS, version)
            meta.update(registered_model_name=registered_name, registered_model_version=version)
        meta["tracking_uri"] = mlflow.get_tracking_uri()
        save_transformer(serving, output_dir, meta)
    logger.info(
        "trained transformer in %.0fs: val macro-F1 torch %.4f, served %s %.4f, version %s",
        result.train_seconds,
        result.best_val_macro_f1,
        chosen,
        val_metrics["macro_f1"],
        version,
    )
    return TrainResult(
        output_dir, run.info.run_id, registered_name, version, result.train_seconds, val_metrics
    )

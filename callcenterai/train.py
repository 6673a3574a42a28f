"""Training runs: fit a model on the prepared splits, track it in MLflow, register it.

:func:`train_model` is the same for every kind: each run logs its parameters, validation
metrics, data report, confusion matrix and classification report, then logs the model, registers
a new version and gives it the ``staging`` alias. The same model is written to a local folder for
DVC and offline use. What differs between kinds is how the model is fitted (:data:`FITTERS`).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from callcenterai.config import MODEL_NAMES, STAGING_ALIAS, Params
from callcenterai.data import SOURCE, DataReport
from callcenterai.drift import REFERENCE_FILE, reference_profile
from callcenterai.evaluate import evaluate_frame, plot_confusion_matrix
from callcenterai.models.base import Classifier
from callcenterai.models.finetune import export_onnx, fine_tune, quantize_int8, write_serving_dir
from callcenterai.models.offline_e5 import resolve_base_model
from callcenterai.models.store import check_model_output, log_model, save_model
from callcenterai.models.tfidf import TfidfClassifier
from callcenterai.models.transformer import TransformerClassifier
from callcenterai.registry import set_alias
from callcenterai.tracking import flatten_metrics, setup_tracking

logger = logging.getLogger(__name__)


@dataclass
class Fitted:
    """A fitted model, as a kind's fitting step returns it."""

    model: Classifier
    val_metrics: dict
    train_seconds: float
    metadata: dict = field(default_factory=dict)  # written into the MLflow model


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


def fit_tfidf(
    train: pd.DataFrame, val: pd.DataFrame, params: Params, workdir: Path, output_dir: Path
) -> Fitted:
    """TF-IDF + calibrated linear SVM on ``train``, scored on ``val``."""
    started = time.perf_counter()
    classifier = TfidfClassifier.train(
        train["text"],
        train["label"],
        params.tfidf,
        seed=params.data.seed,
        sample_weight=sample_weights(train, params),
    )
    train_seconds = time.perf_counter() - started
    mlflow.log_metric("vocabulary_size", len(classifier.vectorizer.vocabulary_))
    val_metrics, _ = evaluate_frame(classifier, val, params.data.short_ticket_words)
    return Fitted(classifier, val_metrics, train_seconds)


def fit_transformer(
    train: pd.DataFrame, val: pd.DataFrame, params: Params, workdir: Path, output_dir: Path
) -> Fitted:
    """Fine-tune the transformer, export ONNX (fp32 and int8), keep the one to serve.

    The int8 model is served when its validation macro-F1 is within
    ``transformer.max_int8_f1_drop`` of PyTorch's; otherwise the fp32 ONNX model is. The
    fine-tuned PyTorch checkpoint is kept beside ``output_dir`` (``<name>_torch``) for benchmarks
    and parity checks.
    """
    settings = params.transformer
    torch_dir = output_dir.parent / f"{output_dir.name}_torch"
    base_model = resolve_base_model(settings.base_model)
    weights = sample_weights(train, params)
    if weights is not None:  # the loss is unweighted: a ticket of weight w is seen round(w) times
        train = train.loc[train.index.repeat(np.maximum(1, np.rint(weights)).astype(int))]

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
        {"best_epoch": result.best_epoch, "val_macro_f1_torch": result.best_val_macro_f1}
    )
    logger.info("progress: fine-tuned; exporting to ONNX, quantising, validating")
    onnx_fp32 = export_onnx(torch_dir, workdir / "onnx" / "model.fp32.onnx")
    onnx_int8 = quantize_int8(
        onnx_fp32, workdir / "onnx" / "model.int8.onnx", settings.quantize_embeddings
    )
    candidates = {}
    for label, onnx_path in (("fp32", onnx_fp32), ("int8", onnx_int8)):
        # The folder's name is the artifact's name in the MLflow model: always "serving".
        serving = write_serving_dir(torch_dir, onnx_path, workdir / label / "serving")
        model = TransformerClassifier(serving)
        metrics, _ = evaluate_frame(model, val, params.data.short_ticket_words)
        candidates[label] = (model, metrics)
        mlflow.log_metric(f"val_macro_f1_onnx_{label}", metrics["macro_f1"])
        mlflow.log_metric(f"onnx_{label}_megabytes", onnx_path.stat().st_size / 2**20)
    drop = result.best_val_macro_f1 - candidates["int8"][1]["macro_f1"]
    chosen = "int8" if drop <= settings.max_int8_f1_drop else "fp32"
    mlflow.set_tag("serving_precision", chosen)
    logger.info(
        "transformer: val macro-F1 torch %.4f, int8 %.4f: serving %s",
        result.best_val_macro_f1,
        candidates["int8"][1]["macro_f1"],
        chosen,
    )
    model, val_metrics = candidates[chosen]
    return Fitted(model, val_metrics, result.train_seconds, {"serving_precision": chosen})


FITTERS = {"tfidf": fit_tfidf, "transformer": fit_transformer}


def sample_weights(train: pd.DataFrame, params: Params) -> np.ndarray | None:
    """Natural tickets weigh ``natural.weight``, corrected ones ``feedback.weight``, the others
    1; None when every ticket weighs 1."""
    if SOURCE not in train.columns:
        return None
    weights = {"natural": params.natural.weight, "feedback": params.feedback.weight}
    source = train[SOURCE].fillna("kaggle")
    if not source.isin(list(weights)).any():
        return None
    return source.map(weights).fillna(1.0).to_numpy(dtype=float)


def _stratified_subset(frame: pd.DataFrame, size: int | None, seed: int) -> pd.DataFrame:
    if size is None or size >= len(frame):
        return frame
    subset, _ = train_test_split(frame, train_size=size, stratify=frame["label"], random_state=seed)
    return subset


def training_subset(train: pd.DataFrame, size: int | None, seed: int) -> pd.DataFrame:
    """At most ``size`` Kaggle tickets (stratified by label), and every natural and corrected
    ticket: the few natural French and Arabic tickets are what a short run needs most."""
    if size is None or SOURCE not in train.columns:
        return _stratified_subset(train, size, seed)
    natural = train[SOURCE].isin(["natural", "feedback"])
    return pd.concat([_stratified_subset(train[~natural], size, seed), train[natural]])


def train_model(
    kind: str,
    train: pd.DataFrame,
    val: pd.DataFrame,
    output_dir: Path,
    params: Params,
    data_report: DataReport | dict | None = None,
    register: bool = True,
) -> TrainResult:
    """Train a model of ``kind`` on ``train``, validate on ``val``, log and register it."""
    if kind not in FITTERS:
        raise ValueError(f"unknown model kind {kind!r}: one of {', '.join(FITTERS)}")
    output_dir = Path(output_dir)
    check_model_output(output_dir)  # before an hour of training, not after
    kind_params = getattr(params, kind)
    train = training_subset(
        train, getattr(kind_params, "max_train_samples", None), params.data.seed
    )
    val = _stratified_subset(val, getattr(kind_params, "max_val_samples", None), params.data.seed)
    setup_tracking()
    with mlflow.start_run(run_name=kind) as run, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        run_id = run.info.run_id
        _log_run_inputs(kind, kind_params.model_dump(), params, train, val, data_report, workdir)
        fitted = FITTERS[kind](train, val, params, workdir, output_dir)
        mlflow.log_metric("train_seconds", fitted.train_seconds)
        _log_validation(fitted.val_metrics, workdir)

        registered_name = MODEL_NAMES[kind] if register else None
        metadata = {"run_id": run_id, **fitted.metadata}
        info = log_model(fitted.model, registered_name, metadata)
        version = str(info.registered_model_version) if register else None
        if register:
            set_alias(registered_name, STAGING_ALIAS, version)
            metadata.update(registered_model_name=registered_name, registered_model_version=version)
        metadata["tracking_uri"] = mlflow.get_tracking_uri()
        # What drift monitoring compares live tickets with (callcenterai.drift).
        reference = reference_profile(fitted.model, val)
        reference.model = {"name": registered_name or kind, "version": version or "local"}
        mlflow.log_artifact(str(reference.write(workdir / REFERENCE_FILE)))
        save_model(fitted.model, output_dir, metadata)
        reference.write(Path(output_dir) / REFERENCE_FILE)
    logger.info(
        "trained %s in %.1fs: val macro-F1 %.4f, run %s, version %s",
        kind,
        fitted.train_seconds,
        fitted.val_metrics["macro_f1"],
        run_id,
        version,
    )
    return TrainResult(
        output_dir, run_id, registered_name, version, fitted.train_seconds, fitted.val_metrics
    )

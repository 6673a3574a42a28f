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
        mlflow.set_tags({"model_kind": "tfidf", "stage": "train"})
        mlflow.log_params({f"tfidf.{k}": v for k, v in params.tfidf.model_dump().items()})
        mlflow.log_params(
            {
                "data.seed": params.data.seed,
                "data.train_rows": len(train),
                "data.val_rows": len(val),
            }
        )
        if data_report is not None:
            report = data_report if isinstance(data_report, dict) else data_report.__dict__
            mlflow.log_param("data.sha256", report.get("sha256"))
            _log_json(report, "data_report.json", workdir)

        started = time.perf_counter()
        classifier = TfidfClassifier.train(
            train["text"], train["label"], params.tfidf, seed=params.data.seed
        )
        train_seconds = time.perf_counter() - started
        vocabulary = len(classifier.vectorizer.vocabulary_)
        mlflow.log_metrics({"train_seconds": train_seconds, "vocabulary_size": vocabulary})

        val_metrics, _ = evaluate_frame(classifier, val, params.data.short_ticket_words)
        mlflow.log_metrics(flatten_metrics(val_metrics, "val_"))
        _log_json(val_metrics["per_class"], "classification_report_val.json", workdir)
        mlflow.log_artifact(
            str(plot_confusion_matrix(val_metrics, workdir / "confusion_matrix_val.png"))
        )

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

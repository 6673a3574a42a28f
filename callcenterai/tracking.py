"""MLflow tracking: which store and experiment, and how evaluations are added to runs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from callcenterai.config import Settings, get_settings

logger = logging.getLogger(__name__)


# A model service asks the registry again every poll and tries a failed version again itself
# (services.model_service.ModelState), so one request need not outlast an outage: with MLflow's
# own defaults (7 retries, waits doubling from 2 s) a poll that began while the server was down
# kept the service waiting 20-25 s after it came back (benchmarks/soak.py). Environment values
# set by the operator win.
SERVING_HTTP_RETRIES = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}


def use_tracking(settings: Settings | None = None, serving: bool = False) -> str:
    """Point MLflow at the configured store without asking it anything: what serving needs.

    A model service starts even while the tracking server is down (it says so in ``/health``
    and asks again), so its start must not wait on the server: only the registry is asked,
    later, by the loading thread. ``serving``: fewer HTTP retries (:data:`SERVING_HTTP_RETRIES`).
    """
    settings = settings or get_settings()
    # MLflow 3 sends usage telemetry by default; call centres often run without internet.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if serving:
        for name, value in SERVING_HTTP_RETRIES.items():
            os.environ.setdefault(name, value)
    if settings.uses_local_store:
        settings.local_mlflow_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return settings.tracking_uri


def setup_tracking(settings: Settings | None = None) -> str:
    """Point MLflow at the configured store and select the project's experiment.

    With no ``MLFLOW_TRACKING_URI`` the store is a local sqlite file, and the experiment's
    artifacts go to a folder beside it, so nothing lands in the current directory.
    """
    settings = settings or get_settings()
    use_tracking(settings)
    if mlflow.get_experiment_by_name(settings.mlflow_experiment) is None:
        artifact_location = None
        if settings.uses_local_store:
            artifact_location = (settings.local_mlflow_dir / "artifacts").as_uri()
        try:
            mlflow.create_experiment(
                settings.mlflow_experiment, artifact_location=artifact_location
            )
        except MlflowException as exc:  # another process created it meanwhile (first start)
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
    mlflow.set_experiment(settings.mlflow_experiment)
    return settings.tracking_uri


def flatten_metrics(metrics: dict, prefix: str) -> dict[str, float]:
    """Numeric metrics of an evaluation as flat MLflow metric names (``test_f1_Hardware``)."""
    flat = {f"{prefix}{key}": metrics[key] for key in ("accuracy", "macro_f1", "weighted_f1")}
    flat.update({f"{prefix}{key}": value for key, value in metrics["calibration"].items()})
    for label, scores in metrics["per_class"].items():
        flat[f"{prefix}f1_{metric_key(label)}"] = scores["f1"]
    for name, scores in metrics["slices"].items():
        flat[f"{prefix}{name}_macro_f1"] = scores["macro_f1"]
    return flat


def metric_key(label: str) -> str:
    return "".join(char if char.isalnum() else "_" for char in label)


def log_evaluation(
    run_id: str, metrics: dict, files: list[Path], prefix: str, version: tuple[str, str] | None
) -> bool:
    """Add an evaluation to an existing run (and tag the registered version with its macro-F1).

    Returns False, with a warning, when the run is not in the configured tracking store.
    """
    client = MlflowClient()
    try:
        client.get_run(run_id)
    except MlflowException:
        logger.warning(
            "run %s is not in %s: evaluation not logged", run_id, mlflow.get_tracking_uri()
        )
        return False
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(flatten_metrics(metrics, prefix))
        for path in files:
            mlflow.log_artifact(str(path), artifact_path=f"evaluation/{prefix.rstrip('_')}")
    if version:
        name, number = version
        client.set_model_version_tag(name, number, f"{prefix}macro_f1", str(metrics["macro_f1"]))
        client.set_model_version_tag(
            name, number, f"{prefix}data_sha256", metrics["data"]["sha256"]
        )
    return True

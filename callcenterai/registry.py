"""MLflow tracking set-up, the model registry's aliases, and the champion/challenger promotion.

New versions get the ``staging`` alias when they are registered. :func:`promote` moves the
``production`` alias to the staging version only if, evaluated now on the same test file, its
macro-F1 is at least the current production version's (plus a configurable margin); the decision
and both scores are written on the candidate version as tags either way.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from callcenterai.config import (
    PRODUCTION_ALIAS,
    STAGING_ALIAS,
    DataParams,
    Settings,
    get_settings,
)
from callcenterai.errors import RegistryError

logger = logging.getLogger(__name__)


def setup_tracking(settings: Settings | None = None) -> str:
    """Point MLflow at the configured store and select the project's experiment.

    With no ``MLFLOW_TRACKING_URI`` the store is a local sqlite file, and the experiment's
    artifacts go to a folder beside it, so nothing lands in the current directory.
    """
    settings = settings or get_settings()
    # MLflow 3 sends usage telemetry by default; call centres often run without internet.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if settings.uses_local_store:
        settings.local_mlflow_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    if mlflow.get_experiment_by_name(settings.mlflow_experiment) is None:
        artifact_location = None
        if settings.uses_local_store:
            artifact_location = (settings.local_mlflow_dir / "artifacts").as_uri()
        mlflow.create_experiment(settings.mlflow_experiment, artifact_location=artifact_location)
    mlflow.set_experiment(settings.mlflow_experiment)
    return settings.tracking_uri


def parse_alias_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``models:/name@alias`` -> (name, alias, None); ``models:/name/3`` -> (name, None, "3")."""
    path = uri.removeprefix("models:/").strip("/")
    if "@" in path:
        name, alias = path.split("@", 1)
        return name, alias, None
    name, _, version = path.partition("/")
    return name, None, version or None


def resolve_model_version(uri: str, client: MlflowClient | None = None) -> ModelVersion:
    client = client or MlflowClient()
    name, alias, version = parse_alias_uri(uri)
    try:
        if alias:
            return client.get_model_version_by_alias(name, alias)
        if version:
            return client.get_model_version(name, version)
        return max(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
    except (MlflowException, ValueError) as exc:
        raise RegistryError(f"no registered model version for {uri}: {exc}") from None


def alias_version(name: str, alias: str, client: MlflowClient) -> ModelVersion | None:
    """The version holding ``alias``, or None if there is none; other registry errors propagate."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def set_alias(name: str, alias: str, version: str, client: MlflowClient | None = None) -> None:
    (client or MlflowClient()).set_registered_model_alias(name, alias, str(version))
    logger.info("alias %s of %s now points to version %s", alias, name, version)


@dataclass
class PromotionDecision:
    model_name: str
    candidate_version: str
    candidate_macro_f1: float
    champion_version: str | None
    champion_macro_f1: float | None
    min_improvement: float
    promoted: bool
    reason: str
    test_set: str
    test_set_sha256: str
    decided_at: str

    def as_dict(self) -> dict:
        return asdict(self)


def promote(
    name: str,
    test_path: Path,
    min_improvement: float = 0.0,
    candidate_alias: str = STAGING_ALIAS,
    client: MlflowClient | None = None,
    data_params: DataParams | None = None,
) -> PromotionDecision:
    """Champion/challenger: give ``production`` to the ``staging`` version if it is not worse.

    Both versions are evaluated on ``test_path`` now, so stored scores from different test sets
    are never compared. The decision is recorded as tags on the candidate version.
    """
    from callcenterai.data import file_sha256
    from callcenterai.evaluate import score_model

    client = client or MlflowClient()
    candidate = alias_version(name, candidate_alias, client)
    if candidate is None:
        raise RegistryError(
            f"{name} has no version with alias {candidate_alias!r}: train and register one first"
        )
    champion = alias_version(name, PRODUCTION_ALIAS, client)
    candidate_f1 = score_model(f"models:/{name}/{candidate.version}", test_path, data_params)[
        "macro_f1"
    ]
    champion_f1 = None
    if champion is None:
        promoted, reason = True, "no production version yet"
    elif champion.version == candidate.version:
        champion_f1 = candidate_f1
        promoted, reason = True, "candidate is already the production version"
    else:
        champion_f1 = score_model(f"models:/{name}/{champion.version}", test_path, data_params)[
            "macro_f1"
        ]
        promoted = candidate_f1 >= champion_f1 + min_improvement
        comparison = ">=" if promoted else "<"
        reason = (
            f"candidate macro-F1 {candidate_f1:.4f} {comparison} production {champion_f1:.4f}"
            f" + margin {min_improvement:.4f}"
        )
    decision = PromotionDecision(
        model_name=name,
        candidate_version=str(candidate.version),
        candidate_macro_f1=round(candidate_f1, 6),
        champion_version=str(champion.version) if champion else None,
        champion_macro_f1=None if champion_f1 is None else round(champion_f1, 6),
        min_improvement=min_improvement,
        promoted=promoted,
        reason=reason,
        test_set=str(test_path),
        test_set_sha256=file_sha256(Path(test_path)),
        decided_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    tags = {
        "promotion.decision": "promoted" if promoted else "refused",
        "promotion.reason": reason,
        "promotion.candidate_macro_f1": str(decision.candidate_macro_f1),
        "promotion.champion_version": str(decision.champion_version),
        "promotion.champion_macro_f1": str(decision.champion_macro_f1),
        "promotion.test_set_sha256": decision.test_set_sha256,
        "promotion.decided_at": decision.decided_at,
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, str(candidate.version), key, value)
    if promoted:
        set_alias(name, PRODUCTION_ALIAS, str(candidate.version), client)
    logger.info("promotion of %s v%s: %s", name, candidate.version, reason)
    return decision


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

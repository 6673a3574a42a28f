"""The model registry's versions and aliases: look-ups and moves.

New versions get the ``staging`` alias when they are registered (:mod:`callcenterai.train`);
:mod:`callcenterai.promotion` moves ``production``. Everything here works on the registry of the
tracking store that :func:`callcenterai.tracking.setup_tracking` selected.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from mlflow.artifacts import download_artifacts
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from callcenterai.errors import RegistryError

logger = logging.getLogger(__name__)


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


# The versions that held ``production``, oldest first, as a tag of the registered model: MLflow
# keeps an alias's current version only, and a rollback needs the one before.
HISTORY_TAG = "production.history"
HISTORY_LENGTH = 50


def production_history(name: str, client: MlflowClient | None = None) -> list[str]:
    model = (client or MlflowClient()).get_registered_model(name)
    return json.loads(model.tags.get(HISTORY_TAG, "[]"))


def move_production(
    name: str, version: str, alias: str, client: MlflowClient | None = None
) -> None:
    """Give ``alias`` (production) to ``version`` and append it to the recorded history."""
    client = client or MlflowClient()
    history = production_history(name, client)
    if not history or history[-1] != str(version):
        history = (history + [str(version)])[-HISTORY_LENGTH:]
        client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    set_alias(name, alias, str(version), client)


def roll_back(name: str, alias: str, client: MlflowClient | None = None) -> tuple[str, str]:
    """Move ``alias`` back to the version that held it before the current one.

    The current version leaves the history, so a second rollback goes one further back.
    Returns (from, to).
    """
    client = client or MlflowClient()
    current = alias_version(name, alias, client)
    if current is None:
        raise RegistryError(f"{name} has no {alias} version: nothing to roll back")
    history = production_history(name, client)
    while history and history[-1] == str(current.version):
        history.pop()
    if not history:
        raise RegistryError(
            f"{name} has no earlier {alias} version than {current.version} in its history "
            f"(tag {HISTORY_TAG}): nothing to roll back to"
        )
    previous = history[-1]
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    client.set_model_version_tag(name, str(current.version), "rollback.replaced_by", previous)
    set_alias(name, alias, previous, client)
    logger.warning(
        "rolled %s %s back from version %s to %s", name, alias, current.version, previous
    )
    return str(current.version), previous


def download_run_file(name: str, version: str, path: str, tracking_uri: str | None = None) -> str:
    """The text of a file logged in the training run of a registered model version."""
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        run_id = client.get_model_version(name, str(version)).run_id
        with tempfile.TemporaryDirectory() as folder:
            local = download_artifacts(
                run_id=run_id, artifact_path=path, dst_path=folder, tracking_uri=tracking_uri
            )
            return Path(local).read_text(encoding="utf-8")
    except (MlflowException, OSError) as exc:
        raise RegistryError(f"no {path} for {name} version {version}: {exc}") from None

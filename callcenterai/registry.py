"""The model registry's versions and aliases: look-ups and moves.

New versions get the ``staging`` alias when they are registered (:mod:`callcenterai.train`);
:mod:`callcenterai.promotion` moves ``production``. Everything here works on the registry of the
tracking store that :func:`callcenterai.tracking.setup_tracking` selected.
"""

from __future__ import annotations

import logging

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

"""Saving and loading models as MLflow models: one format for local folders and the registry.

A model folder written by :func:`save_model` is an MLflow model (``MLmodel`` + the kind's
files), the same thing the registry serves under ``models:/callcenterai-tfidf@production``, so
every command that takes ``--model`` accepts either. How each kind is stored is in
:mod:`callcenterai.models.kinds`.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from callcenterai.errors import (
    ModelNotFoundError,
    OutputError,
    RegistryError,
    UnsafeModelError,
    one_line,
)
from callcenterai.models.base import Classifier
from callcenterai.models.kinds import KINDS
from callcenterai.models.tfidf import as_frame
from callcenterai.registry import resolve_model_version

_URI_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:/")

logger = logging.getLogger(__name__)

# A fixed, synthetic example: user data (possibly holding PII) never goes into a model artifact.
INPUT_EXAMPLE = ["My laptop screen stays black since this morning, can you replace it?"]


def is_mlflow_uri(uri: str | Path) -> bool:
    """``models:/...`` or ``runs:/...``: resolved through the tracking store."""
    return str(uri).startswith(("models:/", "runs:/"))


def _mlflow_arguments(model: Classifier, metadata: dict[str, Any]) -> dict[str, Any]:
    kind = KINDS[model.kind]
    example = as_frame(INPUT_EXAMPLE)
    return {
        **kind.flavor_arguments(model),
        "signature": infer_signature(example, model.predict(INPUT_EXAMPLE)),
        "input_example": example,
        "pip_requirements": kind.requirements(),
        "metadata": {"callcenterai_kind": model.kind, **metadata},
    }


def check_model_output(path: Path) -> None:
    """A model may be written at ``path``: nothing there, an empty folder, or a model folder
    (which it replaces). Anything else is refused, so that ``--output .`` or a typo never
    deletes a folder of other files."""
    path = Path(path)
    if not path.exists() or (path / "MLmodel").is_file():
        return
    if path.is_dir() and not any(path.iterdir()):
        return
    raise OutputError(
        f"refusing to write the model to {path}: it is not empty and not a model folder "
        "(no MLmodel file); choose another --output, or empty or remove it first"
    )


def save_model(model: Classifier, path: Path, metadata: dict[str, Any]) -> Path:
    """Write ``model`` as an MLflow model folder at ``path``, replacing a model folder there.

    The model is written beside ``path`` first and then renamed into place, so a failure
    half-way leaves the previous model (or nothing) at ``path``, never half of one.
    """
    path = Path(path)
    check_model_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        written = staging / "model"
        KINDS[model.kind].flavor.save_model(path=str(written), **_mlflow_arguments(model, metadata))
        if path.exists():
            path.rename(staging / "previous")
        written.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def log_model(model: Classifier, registered_name: str | None, metadata: dict[str, Any]):
    """Log ``model`` to the active MLflow run, registering a new version if a name is given."""
    return KINDS[model.kind].flavor.log_model(
        name="model", registered_model_name=registered_name, **_mlflow_arguments(model, metadata)
    )


def load_classifier(uri: str | Path, **options) -> Classifier:
    """Load a CallCenterAI model from a folder or an MLflow URI (`models:/name@alias`, `runs:/`).

    An alias is resolved once, so the version reported is the version loaded. The model's
    ``run_id`` is the MLflow run that trained it (None if unknown). ``options`` (``threads``,
    ``batch_size``) apply to the transformer.
    """
    uri = str(uri)
    local = Path(uri) if Path(uri, "MLmodel").exists() else None
    if local is None and not _URI_SCHEME.match(uri):
        raise ModelNotFoundError(
            f"no model at {uri}: expected a folder with an MLmodel file; train one with "
            "`callcenterai train tfidf|transformer` or pass a models:/ URI"
        )
    try:
        name, number, source = _pin_version(uri)
        info = mlflow.models.get_model_info(source)
    except (MlflowException, OSError, RegistryError) as exc:
        raise ModelNotFoundError(
            f"cannot load model {uri} from {mlflow.get_tracking_uri()}: {one_line(exc)}"
        ) from None
    metadata = info.metadata or {}
    kind = metadata.get("callcenterai_kind")
    if kind not in KINDS:
        raise ModelNotFoundError(f"{uri} is not a CallCenterAI model (kind {kind!r})")
    if name is None:  # a folder or a runs:/ URI: identity from the model's own metadata
        name = str(metadata.get("registered_model_name", local.name if local else uri))
        number = str(metadata.get("registered_model_version", "local"))
    try:
        model = KINDS[kind].load(source, local, name, number, options)
    except UnsafeModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged artifact: one line, not a traceback
        raise ModelNotFoundError(
            f"cannot load model {uri}: its files are damaged or incomplete "
            f"({type(exc).__name__}: {one_line(exc)})"
        ) from None
    model.run_id = metadata.get("run_id") or info.run_id
    logger.info("loaded %s model %s version %s from %s", kind, name, number, uri)
    return model


def _pin_version(uri: str) -> tuple[str | None, str | None, str]:
    if not uri.startswith("models:/"):
        return None, None, uri
    version = resolve_model_version(uri)
    return version.name, str(version.version), f"models:/{version.name}/{version.version}"

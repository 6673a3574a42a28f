"""Saving and loading models as MLflow models: one format for local folders and the registry.

A model folder written by :func:`save_tfidf` is an MLflow model (``MLmodel`` + skops file), the
same thing the registry serves under ``models:/callcenterai-tfidf@production``, so every command
that takes ``--model`` accepts either.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from callcenterai.errors import ModelNotFoundError, RegistryError, one_line
from callcenterai.models.tfidf import SKOPS_TRUSTED_TYPES, TfidfClassifier, as_frame

SERVING_ARTIFACT = "serving"
_URI_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:/")

logger = logging.getLogger(__name__)

# A fixed, synthetic example: user data (possibly holding PII) never goes into a model artifact.
INPUT_EXAMPLE = ["My laptop screen stays black since this morning, can you replace it?"]


TFIDF_PACKAGES = ("callcenterai", "mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")
TRANSFORMER_PACKAGES = ("callcenterai", "mlflow", "onnxruntime", "tokenizers", "numpy", "pandas")


def _requirements(packages: tuple[str, ...] = TFIDF_PACKAGES) -> list[str]:
    """What loading the model needs: the pinned libraries and this package (for the normaliser)."""
    return [f"{name}=={version(name)}" for name in packages]


def _save_kwargs(classifier: TfidfClassifier, metadata: dict[str, Any]) -> dict[str, Any]:
    example = as_frame(INPUT_EXAMPLE)
    signature = infer_signature(example, classifier.predict(INPUT_EXAMPLE))
    return {
        "serialization_format": "skops",
        "skops_trusted_types": SKOPS_TRUSTED_TYPES,
        "signature": signature,
        "input_example": example,
        "pip_requirements": _requirements(),
        "metadata": {"callcenterai_kind": classifier.kind, **metadata},
    }


def save_tfidf(classifier: TfidfClassifier, path: Path, metadata: dict[str, Any]) -> Path:
    """Write ``classifier`` as an MLflow model folder at ``path`` (replacing what is there)."""
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mlflow.sklearn.save_model(classifier.pipeline, str(path), **_save_kwargs(classifier, metadata))
    return path


def log_tfidf(classifier: TfidfClassifier, registered_name: str | None, metadata: dict[str, Any]):
    """Log ``classifier`` to the active MLflow run, registering a new version if a name is given."""
    return mlflow.sklearn.log_model(
        classifier.pipeline,
        name="model",
        registered_model_name=registered_name,
        **_save_kwargs(classifier, metadata),
    )


def _transformer_kwargs(serving_dir: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    from callcenterai.models.transformer import TransformerClassifier, _mlflow_python_model

    example = as_frame(INPUT_EXAMPLE)
    predicted = TransformerClassifier(serving_dir).predict(INPUT_EXAMPLE)
    return {
        "python_model": _mlflow_python_model(),
        "artifacts": {SERVING_ARTIFACT: str(serving_dir)},
        "signature": infer_signature(example, predicted),
        "input_example": example,
        "pip_requirements": _requirements(TRANSFORMER_PACKAGES),
        "metadata": {"callcenterai_kind": "transformer", **metadata},
    }


def save_transformer(serving_dir: Path, path: Path, metadata: dict[str, Any]) -> Path:
    """Write the ONNX serving folder as an MLflow pyfunc model at ``path``."""
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mlflow.pyfunc.save_model(str(path), **_transformer_kwargs(serving_dir, metadata))
    return path


def log_transformer(serving_dir: Path, registered_name: str | None, metadata: dict[str, Any]):
    return mlflow.pyfunc.log_model(
        name="model",
        registered_model_name=registered_name,
        **_transformer_kwargs(serving_dir, metadata),
    )


def load_classifier(uri: str | Path, **options):
    """Load a CallCenterAI model from a folder or an MLflow URI (`models:/name@alias`, `runs:/`).

    Returns a :class:`TfidfClassifier` or a :class:`TransformerClassifier` (ONNX Runtime);
    ``options`` (``threads``, ``batch_size``) apply to the transformer.
    """
    uri = str(uri)
    local = Path(uri) if Path(uri, "MLmodel").exists() else None
    if local is None and not _URI_SCHEME.match(uri):
        raise ModelNotFoundError(
            f"no model at {uri}: expected a folder with an MLmodel file; train one with "
            "`callcenterai train tfidf|transformer` or pass a models:/ URI"
        )
    try:
        name, version, source = _pin_version(uri)
        info = mlflow.models.get_model_info(source)
    except (MlflowException, OSError, RegistryError) as exc:
        raise ModelNotFoundError(
            f"cannot load model {uri} from {mlflow.get_tracking_uri()}: {one_line(exc)}"
        ) from None
    metadata = info.metadata or {}
    kind = metadata.get("callcenterai_kind")
    if kind not in ("tfidf", "transformer"):
        raise ModelNotFoundError(f"{uri} is not a CallCenterAI model (kind {kind!r})")
    if name is None:  # a folder or a runs:/ URI: identity from the model's own metadata
        name = str(metadata.get("registered_model_name", local.name if local else uri))
        version = str(metadata.get("registered_model_version", "local"))
    if kind == "tfidf":
        model = TfidfClassifier(mlflow.sklearn.load_model(source), name=name, version=version)
    elif local is not None:
        model = _transformer(local, name, version, options)
    else:
        with tempfile.TemporaryDirectory() as tmp:  # the session keeps what it needs in memory
            downloaded = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp)
            model = _transformer(Path(downloaded), name, version, options)
    logger.info("loaded %s model %s version %s from %s", kind, name, version, uri)
    return model


def _pin_version(uri: str) -> tuple[str | None, str | None, str]:
    """Resolve an alias once, so the version reported is the version loaded."""
    if not uri.startswith("models:/"):
        return None, None, uri
    from callcenterai.registry import resolve_model_version

    version = resolve_model_version(uri)
    return version.name, str(version.version), f"models:/{version.name}/{version.version}"


def _transformer(folder: Path, name: str, version: str, options: dict):
    from callcenterai.models.transformer import TransformerClassifier

    serving_dir = folder / "artifacts" / SERVING_ARTIFACT
    return TransformerClassifier(serving_dir, name=name, version=version, **options)

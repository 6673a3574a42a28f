"""Saving and loading models as MLflow models: one format for local folders and the registry.

A model folder written by :func:`save_tfidf` is an MLflow model (``MLmodel`` + skops file), the
same thing the registry serves under ``models:/callcenterai-tfidf@production``, so every command
that takes ``--model`` accepts either.
"""

from __future__ import annotations

import logging
import re
import shutil
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from callcenterai.errors import ModelNotFoundError
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


def model_identity(uri: str, metadata: dict[str, Any] | None) -> tuple[str, str]:
    """(name, version) of a model: from the registry for ``models:/`` URIs, else its metadata."""
    metadata = metadata or {}
    if uri.startswith("models:/"):
        from callcenterai.registry import resolve_model_version

        version = resolve_model_version(uri)
        return version.name, str(version.version)
    return (
        str(metadata.get("registered_model_name", Path(uri).name)),
        str(metadata.get("registered_model_version", "local")),
    )


def load_classifier(uri: str | Path, **options):
    """Load a CallCenterAI model from a folder or an MLflow URI (``models:/name@alias``, ``runs:/``).

    Returns a :class:`TfidfClassifier` or a :class:`TransformerClassifier` (ONNX Runtime);
    ``options`` (``threads``, ``batch_size``) apply to the transformer.
    """
    uri = str(uri)
    if not _URI_SCHEME.match(uri) and not Path(uri, "MLmodel").exists():
        raise ModelNotFoundError(
            f"no model at {uri}: expected a folder with an MLmodel file; train one with "
            "`callcenterai train tfidf|transformer` or pass a models:/ URI"
        )
    try:
        info = mlflow.models.get_model_info(uri)
    except (MlflowException, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelNotFoundError(
            f"cannot load model {uri} from {mlflow.get_tracking_uri()}: {reason}"
        ) from None
    metadata = info.metadata or {}
    kind = metadata.get("callcenterai_kind")
    if kind not in ("tfidf", "transformer"):
        raise ModelNotFoundError(f"{uri} is not a CallCenterAI model (kind {kind!r})")
    name, version = model_identity(uri, metadata)
    if kind == "tfidf":
        classifier = TfidfClassifier(mlflow.sklearn.load_model(uri), name=name, version=version)
    else:
        from callcenterai.models.transformer import TransformerClassifier

        local = Path(uri) if Path(uri, "MLmodel").exists() else None
        if local is None:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
        serving_dir = local / "artifacts" / SERVING_ARTIFACT
        classifier = TransformerClassifier(serving_dir, name=name, version=version, **options)
    logger.info("loaded %s model %s version %s from %s", kind, name, version, uri)
    return classifier

"""The table of model kinds: for each, its registered name and how it is an MLflow model.

A TF-IDF model is an ``mlflow.sklearn`` model (a skops file with an explicit list of trusted
types); a transformer is an ``mlflow.pyfunc`` model whose artifact is the ONNX serving folder.
:mod:`callcenterai.models.store` saves, logs and loads any kind through this table, so adding a
kind means adding one entry here (and its fitting step in :mod:`callcenterai.train`).
"""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import pandas as pd

from callcenterai.config import MODEL_NAMES
from callcenterai.models.base import Classifier
from callcenterai.models.tfidf import SKOPS_TRUSTED_TYPES, TfidfClassifier
from callcenterai.models.transformer import TransformerClassifier

SERVING_ARTIFACT = "serving"  # the transformer's ONNX folder inside its MLflow model


class TransformerPyfunc(mlflow.pyfunc.PythonModel):
    """Lets ``mlflow models serve`` and ``mlflow.pyfunc`` run the ONNX model on raw text."""

    def load_context(self, context):
        self.model = TransformerClassifier(Path(context.artifacts[SERVING_ARTIFACT]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> list[str]:
        return self.model.predict(list(model_input["text"]))


@dataclass(frozen=True)
class ModelKind:
    name: str
    flavor: ModuleType  # the MLflow flavour module: save_model, log_model
    packages: tuple[str, ...]  # what loading the model needs, pinned in its requirements
    flavor_arguments: Callable[[Any], dict[str, Any]]  # the model itself, as the flavour takes it
    load: Callable[[str, Path | None, str, str, dict], Classifier]

    @property
    def registered_name(self) -> str:
        return MODEL_NAMES[self.name]

    def requirements(self) -> list[str]:
        return [f"{package}=={version(package)}" for package in self.packages]


def _tfidf_arguments(model: TfidfClassifier) -> dict[str, Any]:
    return {
        "sk_model": model.pipeline,
        "serialization_format": "skops",
        "skops_trusted_types": SKOPS_TRUSTED_TYPES,
    }


def _load_tfidf(source: str, local: Path | None, name: str, number: str, options: dict):
    return TfidfClassifier(mlflow.sklearn.load_model(source), name=name, version=number)


def _transformer_arguments(model: TransformerClassifier) -> dict[str, Any]:
    return {
        "python_model": TransformerPyfunc(),
        "artifacts": {SERVING_ARTIFACT: str(model.serving_dir)},
    }


def _load_transformer(source: str, local: Path | None, name: str, number: str, options: dict):
    def from_folder(folder: Path) -> TransformerClassifier:
        serving_dir = folder / "artifacts" / SERVING_ARTIFACT
        return TransformerClassifier(serving_dir, name=name, version=number, **options)

    if local is not None:
        return from_folder(local)
    with tempfile.TemporaryDirectory() as tmp:  # the session keeps what it needs in memory
        return from_folder(
            Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp))
        )


KINDS: dict[str, ModelKind] = {
    "tfidf": ModelKind(
        name="tfidf",
        flavor=mlflow.sklearn,
        packages=("callcenterai", "mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy"),
        flavor_arguments=_tfidf_arguments,
        load=_load_tfidf,
    ),
    "transformer": ModelKind(
        name="transformer",
        flavor=mlflow.pyfunc,
        packages=("callcenterai", "mlflow", "onnxruntime", "tokenizers", "numpy", "pandas"),
        flavor_arguments=_transformer_arguments,
        load=_load_transformer,
    ),
}

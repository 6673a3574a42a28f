"""The table of model kinds: for each, its registered name and how it is an MLflow model.

A TF-IDF model is an ``mlflow.sklearn`` model (a skops file with an explicit list of trusted
types); a transformer is an ``mlflow.pyfunc`` model whose artifact is the ONNX serving folder.
:mod:`callcenterai.models.store` saves, logs and loads any kind through this table, so adding a
kind means adding one entry here (and its fitting step in :mod:`callcenterai.train`).

Loading never goes through MLflow's flavour loaders: they follow the artifact's own ``MLmodel``
(its serialisation format, its skops trusted-type list, a pyfunc ``loader_module``), so whoever
can write to the registry could make them unpickle or import code. Only the two formats this
project writes are read, by this module: a skops file checked against *our* trusted types, and
ONNX + tokenizer JSON. Anything else is refused with :class:`UnsafeModelError`, and the services
run with ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false`` as a second lock.
"""

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import pandas as pd
import skops.io
from mlflow.models import Model

from callcenterai.config import MODEL_NAMES
from callcenterai.errors import UnsafeModelError
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


@contextlib.contextmanager
def model_files(source: str, local: Path | None) -> Iterator[Path]:
    """The model's folder: ``local`` itself, or its files downloaded (plain file copies, nothing
    is deserialised) into a temporary folder removed afterwards."""
    if local is not None:
        yield local
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp))


def flavor_file(folder: Path, flavor: str, key: str) -> tuple[dict, Path]:
    """The ``flavor`` section of ``folder``'s MLmodel and the file its ``key`` names, which must
    lie inside ``folder`` (a crafted MLmodel could point anywhere)."""
    conf = Model.load(str(folder / "MLmodel")).flavors.get(flavor)
    if conf is None or key not in conf:
        raise UnsafeModelError(
            f"refusing to load {folder.name}: its MLmodel has no {flavor} {key}; "
            "retrain it with `callcenterai train`"
        )
    path = (folder / str(conf[key])).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise UnsafeModelError(f"refusing to load {folder.name}: {key} points outside the model")
    return conf, path


def load_skops_pipeline(folder: Path):
    """The scikit-learn pipeline of a TF-IDF model folder, read from its skops file with the
    trusted types of this code (the list in the MLmodel file is ignored). A pickle or
    cloudpickle file, or a skops file holding any other type, is refused before it is read."""
    conf, path = flavor_file(folder, "sklearn", "pickled_model")
    stored_as = conf.get("serialization_format", "pickle")
    if stored_as != "skops":
        raise UnsafeModelError(
            f"refusing to load {folder.name}: its scikit-learn model is stored as {stored_as!r}, "
            "which can run code when read; CallCenterAI loads only skops files (and ONNX). "
            "Retrain it with `callcenterai train tfidf`"
        )
    untrusted = sorted(set(skops.io.get_untrusted_types(file=path)) - set(SKOPS_TRUSTED_TYPES))
    if untrusted:
        raise UnsafeModelError(
            f"refusing to load {folder.name}: its skops file holds types CallCenterAI does not "
            f"trust: {', '.join(untrusted[:5])}"
        )
    return skops.io.load(path, trusted=SKOPS_TRUSTED_TYPES)


def _load_tfidf(source: str, local: Path | None, name: str, number: str, options: dict):
    with model_files(source, local) as folder:
        return TfidfClassifier(load_skops_pipeline(folder), name=name, version=number)


def _transformer_arguments(model: TransformerClassifier) -> dict[str, Any]:
    return {
        "python_model": TransformerPyfunc(),
        "artifacts": {SERVING_ARTIFACT: str(model.serving_dir)},
    }


def _load_transformer(source: str, local: Path | None, name: str, number: str, options: dict):
    """The ONNX serving folder only: the pyfunc wrapper (a cloudpickle file) is never read."""
    with model_files(source, local) as folder:  # the session keeps what it needs in memory
        serving_dir = folder / "artifacts" / SERVING_ARTIFACT
        if not (serving_dir / "model.onnx").is_file():
            raise UnsafeModelError(
                f"refusing to load {folder.name}: no ONNX model in artifacts/{SERVING_ARTIFACT}; "
                "retrain it with `callcenterai train transformer`"
            )
        return TransformerClassifier(serving_dir, name=name, version=number, **options)


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

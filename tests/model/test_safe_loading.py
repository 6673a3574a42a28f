"""Model loading reads only the formats the project writes (security review finding 2).

Each test tampers with a real trained model folder the way someone with write access to the
registry could, and checks that loading refuses it *before* anything in it runs: the payloads
write a marker file, which must not exist afterwards.
"""

import os
import pickle  # nosec B403 - builds the hostile artefact the loader must refuse
import shutil
from pathlib import Path

import mlflow
import pytest
import skops.io
import yaml
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from callcenterai.errors import UnsafeModelError
from callcenterai.models.store import load_classifier


class Payload:
    """Unpickling this writes a marker file: proof that the artefact's code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


def tampered_copy(result, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(result.model_dir, folder)
    return folder


def edit_mlmodel(folder: Path, edit) -> None:
    path = folder / "MLmodel"
    mlmodel = yaml.safe_load(path.read_text())
    edit(mlmodel)
    path.write_text(yaml.safe_dump(mlmodel))


def test_the_untouched_model_still_loads_with_pickle_deserialisation_off(trained, monkeypatch):
    _, result = trained
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    model = load_classifier(str(result.model_dir))
    assert model.predict(["printer on floor 2 is jammed"])[0] in model.labels


def test_a_model_switched_to_pickle_is_refused_before_it_is_read(trained, tmp_path):
    _, result = trained
    folder, marker = tampered_copy(result, tmp_path), tmp_path / "pwned"
    (folder / "model.pkl").write_bytes(pickle.dumps(Payload(marker)))

    def to_pickle(mlmodel):
        mlmodel["flavors"]["sklearn"].update(
            serialization_format="pickle", pickled_model="model.pkl"
        )
        mlmodel["flavors"]["python_function"]["model_path"] = "model.pkl"

    edit_mlmodel(folder, to_pickle)
    with pytest.raises(UnsafeModelError, match="stored as 'pickle'"):
        load_classifier(str(folder))
    assert not marker.exists()


def test_a_skops_file_with_a_foreign_type_is_refused_whatever_its_mlmodel_trusts(trained, tmp_path):
    _, result = trained
    folder, marker = tampered_copy(result, tmp_path), tmp_path / "pwned"
    hostile = make_pipeline(FunctionTransformer(os.system))
    skops.io.dump(hostile, folder / "model.skops")
    untrusted = skops.io.get_untrusted_types(file=folder / "model.skops")

    def trust_everything(mlmodel):
        mlmodel["flavors"]["sklearn"]["skops_trusted_types"] = untrusted

    edit_mlmodel(folder, trust_everything)
    with pytest.raises(UnsafeModelError, match="types CallCenterAI does not trust: .*system"):
        load_classifier(str(folder))
    assert not marker.exists()


def test_a_model_file_outside_the_folder_is_refused(trained, tmp_path):
    _, result = trained
    folder = tampered_copy(result, tmp_path)
    shutil.copy(folder / "model.skops", tmp_path / "elsewhere.skops")

    def point_outside(mlmodel):
        mlmodel["flavors"]["sklearn"]["pickled_model"] = "../elsewhere.skops"

    edit_mlmodel(folder, point_outside)
    with pytest.raises(UnsafeModelError, match="points outside the model"):
        load_classifier(str(folder))


def test_a_transformer_with_a_custom_loader_module_is_never_imported(trained, tmp_path):
    """A pyfunc model whose MLmodel names its own loader module: MLflow would import it; the
    project reads only the ONNX serving folder, and there is none."""
    _, result = trained
    folder, marker = tampered_copy(result, tmp_path), tmp_path / "pwned"
    (folder / "code").mkdir()
    (folder / "code" / "evil_loader.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "def _load_pyfunc(path):\n    return None\n"
    )

    def to_custom_pyfunc(mlmodel):
        mlmodel["flavors"] = {"python_function": {"loader_module": "evil_loader", "code": "code"}}
        mlmodel["metadata"]["callcenterai_kind"] = "transformer"

    edit_mlmodel(folder, to_custom_pyfunc)
    with pytest.raises(UnsafeModelError, match="no ONNX model"):
        load_classifier(str(folder))
    assert not marker.exists()


def test_a_tampered_registry_version_is_refused(trained, tmp_path):
    """The same refusal through the registry: a version whose artefact was switched to pickle."""
    _, result = trained
    folder, marker = tampered_copy(result, tmp_path), tmp_path / "pwned"
    (folder / "model.pkl").write_bytes(pickle.dumps(Payload(marker)))
    edit_mlmodel(
        folder,
        lambda m: m["flavors"]["sklearn"].update(
            serialization_format="pickle", pickled_model="model.pkl"
        ),
    )
    with mlflow.start_run():
        mlflow.log_artifacts(str(folder), "tampered")
        source = f"{mlflow.get_artifact_uri()}/tampered"
    client = mlflow.MlflowClient()
    version = client.create_model_version("callcenterai-tfidf", source)
    with pytest.raises(UnsafeModelError, match="stored as 'pickle'"):
        load_classifier(f"models:/callcenterai-tfidf/{version.version}")
    assert not marker.exists()

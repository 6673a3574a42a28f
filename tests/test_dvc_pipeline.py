"""The DVC pipeline definition is valid, and ``dvc repro`` rebuilds everything from a raw CSV."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from callcenterai.sample import write_sample
from tests.conftest import PROJECT_ROOT
from tests.tickets.test_export import corrected_store

DVC = shutil.which("dvc", path=str(Path(sys.executable).parent)) or shutil.which("dvc")
needs_dvc = pytest.mark.skipif(
    DVC is None, reason="dvc is not installed (pip install -e .[pipeline])"
)


def dvc(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DVC, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


@needs_dvc
def test_dag_has_the_stages_in_order():
    result = dvc("dag", "--mermaid", cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    names = dict(re.findall(r'(node\d+)\["(\w+)"\]', result.stdout))
    edges = {(names[a], names[b]) for a, b in re.findall(r"(node\d+)-->(node\d+)", result.stdout)}
    expected = {"corpus", "feedback", "prepare"}
    for kind in ("tfidf", "transformer"):
        expected |= {f"{stage}_{kind}" for stage in ("train", "evaluate", "promote")}
        expected |= {f"evaluate_{kind}_natural", f"evaluate_{kind}_feedback"}
    assert set(names.values()) == expected
    assert ("corpus", "prepare") in edges and ("feedback", "prepare") in edges
    for kind in ("tfidf", "transformer"):
        assert ("prepare", f"train_{kind}") in edges
        for evaluation in ("", "_natural", "_feedback"):
            assert (f"train_{kind}", f"evaluate_{kind}{evaluation}") in edges


@needs_dvc
@pytest.mark.slow
def test_repro_on_the_sample_in_a_fresh_repository(tmp_path):
    shutil.copy(PROJECT_ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["data"]["input"] = "data/raw/tickets.csv"  # the sample below, not the shipped data
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copytree(PROJECT_ROOT / "callcenterai", tmp_path / "callcenterai")
    for folder in ("natural", "eval"):
        shutil.copytree(PROJECT_ROOT / "data" / folder, tmp_path / "data" / folder)
    write_sample(tmp_path / "data" / "raw" / "tickets.csv", n=800)
    env = {
        **os.environ,
        "CALLCENTERAI_HOME": str(tmp_path),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert dvc("init", "-q", cwd=tmp_path).returncode == 0
    # Corrections made through the agent, in the store `callcenterai up` gives it by default.
    sample = pd.read_csv(tmp_path / "data" / "raw" / "tickets.csv").iloc[:60]
    corrected = [
        (f"{text} merci", label) for text, label in zip(sample.Document, sample.Topic_group)
    ]
    corrected_store(f"sqlite:///{tmp_path / 'build' / 'stack' / 'tickets.db'}", corrected)
    # The TF-IDF branch: the transformer's stages are exercised by tests/model (tiny fine-tunes).
    stages = (
        "evaluate_tfidf",
        "evaluate_tfidf_natural",
        "evaluate_tfidf_feedback",
        "promote_tfidf",
    )
    result = dvc("repro", *stages, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    metrics = json.loads((tmp_path / "reports" / "tfidf" / "metrics.json").read_text())
    assert metrics["macro_f1"] > 0.6
    assert json.loads((tmp_path / "reports" / "tfidf" / "promotion.json").read_text())["promoted"]
    natural = json.loads((tmp_path / "reports" / "tfidf" / "natural_metrics.json").read_text())
    assert natural["n"] == 720 and {"language_en", "language_fr", "language_ar"} <= set(
        natural["slices"]
    )
    assert json.loads((tmp_path / "reports" / "corpus_report.json").read_text())["problems"] == []
    data_report = json.loads((tmp_path / "reports" / "data_report.json").read_text())
    assert data_report["feedback_rows"] == 60
    feedback = json.loads((tmp_path / "reports" / "tfidf" / "feedback_metrics.json").read_text())
    assert feedback["n"] == data_report["feedback_test"] > 0 and "accuracy" in feedback
    lock = (tmp_path / "dvc.lock").read_text()
    for stage in ("corpus", "feedback", "prepare", "train_tfidf", *stages):
        assert f"{stage}:" in lock
    assert "train_transformer:" not in lock
    status = dvc("status", *stages, cwd=tmp_path, env=env)
    assert "up to date" in status.stdout, status.stdout

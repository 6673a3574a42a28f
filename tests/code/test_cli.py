"""The command line as a user runs it: real processes, exit codes, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CALLCENTERAI_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "callcenterai", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "content,message",
    [
        (None, "error: input file not found"),
        ("a,b\n1,2\n", "error: "),
        (b"Document,Topic_group\n\xe9cran,Hardware\n", "is not UTF-8"),
    ],
)
def test_prepare_errors_are_one_line_without_traceback(tmp_path, content, message):
    path = tmp_path / "in.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    result = run_cli("prepare", "--input", str(path), cwd=tmp_path, home=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1


def test_evaluate_missing_model_is_a_clear_error(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\nhello,A\n")
    result = run_cli(
        "evaluate", "--model", "models/none", "--input", "t.csv", "--output", "m.json",
        cwd=tmp_path, home=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert "error: no model at models/none" in result.stderr
    assert "Traceback" not in result.stderr


def test_quickstart_runs_the_whole_pipeline(tmp_path):
    result = run_cli("quickstart", "--workdir", "qs", "--n", "800", cwd=tmp_path, home=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert summary["registered_version"] == "1"
    assert summary["production_alias"] is True
    assert summary["test_macro_f1"] > 0.6
    assert (tmp_path / "qs" / "models" / "tfidf" / "MLmodel").exists()
    assert (tmp_path / "mlruns" / "mlflow.db").exists()


def test_one_step_training_from_raw_csv_with_other_columns(tmp_path, sample_csv):
    import pandas as pd

    frame = pd.read_csv(sample_csv).rename(columns={"Document": "body", "Topic_group": "queue"})
    frame.insert(0, "subject", "Ticket")
    frame.to_csv(tmp_path / "raw.csv", index=False)
    result = run_cli(
        "train", "tfidf", "--input", "raw.csv", "--output", "out/model",
        "--text-column", "subject", "--text-column", "body", "--label-column", "queue",
        cwd=tmp_path, home=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["val_macro_f1"] > 0.6
    assert (tmp_path / "out" / "model" / "MLmodel").exists()


def test_help_lists_the_commands(tmp_path):
    result = run_cli("--help", cwd=tmp_path, home=tmp_path)
    assert result.returncode == 0
    for command in ("prepare", "train", "evaluate", "promote", "quickstart", "sample", "serve"):
        assert command in result.stdout


def test_evaluate_a_registry_uri_uses_the_project_store(tmp_path, sample_csv):
    """No MLFLOW_TRACKING_URI: `models:/` is looked up in the local store under the home folder
    (not in MLflow's default store of the current directory), and the evaluation is added to the
    model's run."""
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    trained = run_cli(
        "train", "tfidf", "--input", str(sample_csv), "--output", "model",
        cwd=tmp_path, home=home,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    result = run_cli(
        "evaluate", "--model", "models:/callcenterai-tfidf@staging", "--input", str(sample_csv),
        "--output", "m.json", cwd=elsewhere, home=home,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["model"] == {"name": "callcenterai-tfidf", "version": "1"}
    assert not (elsewhere / "mlruns").exists() and not (elsewhere / "mlflow.db").exists()

    from mlflow import MlflowClient

    # Both URIs: an earlier test in this process may have left a global registry URI set.
    store = f"sqlite:///{home / 'mlruns' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    version = client.get_model_version("callcenterai-tfidf", "1")
    run = client.get_run(version.run_id)
    assert "tickets_macro_f1" in run.data.metrics
    assert version.tags["tickets_macro_f1"] == str(run.data.metrics["tickets_macro_f1"])


def test_corpus_check_failure_is_one_line(tmp_path):
    import pandas as pd

    from callcenterai.config import PROJECT_ROOT

    corpus = pd.read_csv(PROJECT_ROOT / "data" / "natural" / "tickets.csv", dtype=str)
    corpus.loc[0, "label"] = "Printers"
    corpus.to_csv(tmp_path / "broken.csv", index=False)
    (tmp_path / "params.yaml").write_text(f"natural:\n  corpus: {tmp_path / 'broken.csv'}\n")
    result = run_cli("corpus", "--output", "report.json", cwd=tmp_path, home=tmp_path)
    assert result.returncode == 1
    assert "error: the natural corpus fails 2 check(s)" in result.stderr  # and a cell short
    assert "labels not in the label set: Printers" in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads((tmp_path / "report.json").read_text())["problems"]


def test_serving_a_damaged_model_is_one_line(tmp_path, tfidf_dir):
    """A model folder whose weights file is cut short: `serve` stops with one line."""
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(tfidf_dir, damaged)
    weights = damaged / "model.skops"
    weights.write_bytes(weights.read_bytes()[:1000])
    result = run_cli(
        "serve", "tfidf", "--model", str(damaged), "--port", "1", cwd=tmp_path, home=tmp_path
    )
    assert result.returncode == 1
    assert "error: cannot load model" in result.stderr and "damaged" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_never_deletes_a_folder_that_is_not_a_model(tmp_path, sample_csv):
    """`--output .` (or a typo) used to delete the folder: a non-empty folder without MLmodel is
    refused before any training, in one line; a model folder is replaced."""
    home, work = tmp_path / "home", tmp_path / "work"
    (work / "notes").mkdir(parents=True)
    (work / "notes" / "keep.txt").write_text("mine")
    for output in (".", "notes"):
        refused = run_cli(
            "train", "tfidf", "--input", str(sample_csv), "--output", output, cwd=work, home=home
        )
        assert refused.returncode == 1
        assert refused.stderr.startswith("error: refusing to write the model to"), refused.stderr
        assert "Traceback" not in refused.stderr
    assert (work / "notes" / "keep.txt").read_text() == "mine"

    for _ in range(2):  # the second run replaces the first model
        trained = run_cli(
            "train", "tfidf", "--input", str(sample_csv), "--output", "model", cwd=work, home=home
        )
        assert trained.returncode == 0, trained.stderr[-2000:]
    assert (work / "model" / "MLmodel").is_file()
    assert [p.name for p in work.iterdir() if p.name.startswith(".")] == []  # no leftovers

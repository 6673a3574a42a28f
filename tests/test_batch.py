"""Batch classification: the same scrubbing, models and routing as the services; no ticket lost
or reordered, in one process and on a local Ray instance with 2 workers."""

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from callcenterai.batch import BatchJob, classify_file, classify_frame, load_models, read_tickets
from callcenterai.config import RoutingSettings
from callcenterai.errors import CallCenterAIError, DataError

FRENCH = "Bonjour, mon écran d'ordinateur portable reste noir depuis ce matin, merci"
TICKETS = [
    "My laptop screen is broken, please replace it",
    FRENCH,
    "I need admin rights to install Python, call me at +44 20 7946 0958",
    "Please order a new keyboard and mouse for the new employee",
    "مرحبا، لا أستطيع الدخول إلى حسابي منذ الصباح",
    "Request access to the shared drive of the finance team",
]


@pytest.fixture(scope="module")
def job_uris(tfidf_dir, tiny_transformer_dir):
    return {"tfidf": str(tfidf_dir), "transformer": str(tiny_transformer_dir)}


@pytest.fixture
def tickets_csv(tmp_path):
    frame = pd.DataFrame(
        {"ticket_id": [f"T-{i:04d}" for i in range(240)][::-1], "body": TICKETS * 40}
    )
    path = tmp_path / "tickets.csv"
    frame.to_csv(path, index=False)
    return path


def test_classify_frame_keeps_rows_and_follows_the_agent_policy(job_uris):
    job = BatchJob("agent-policy", job_uris, "id", "text", pii_person_names=False)
    frame = pd.DataFrame({"id": [30, 10, 20, 40, 50, 60], "text": TICKETS})
    policy = RoutingSettings(
        tfidf_languages=("en",), tfidf_min_confidence=0.0, complexity_threshold=1.01
    )
    result = classify_frame(frame, job, load_models(job), policy)
    assert result["id"].tolist() == [30, 10, 20, 40, 50, 60]
    assert list(result.columns) == ["id", "label", "confidence", "model_used"]
    # French and Arabic go to the transformer; English stays with a confident TF-IDF.
    assert result["model_used"].tolist() == [
        "tfidf", "transformer", "tfidf", "tfidf", "transformer", "tfidf",
    ]  # fmt: skip
    assert result["confidence"].between(0, 1).all() and result["label"].notna().all()


def test_single_model_modes(job_uris):
    frame = pd.DataFrame({"id": range(6), "text": TICKETS})
    for kind in ("tfidf", "transformer"):
        job = BatchJob(kind, job_uris)
        result = classify_frame(frame, job, load_models(job), RoutingSettings())
        assert set(result["model_used"]) == {kind} and len(result) == 6


def test_read_tickets_errors_and_generated_ids(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_tickets(tmp_path / "missing.csv", "id", "text")
    path = tmp_path / "t.csv"
    pd.DataFrame({"body": ["a", "b"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="no column 'text'.*--text-column"):
        read_tickets(path, "id", "text")
    assert read_tickets(path, "id", "body")["id"].tolist() == [0, 1]
    pd.DataFrame({"id": [1, 1], "text": ["a", "b"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="duplicate ids"):
        read_tickets(path, "id", "text")
    path.write_bytes("text\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="UTF-8"):
        read_tickets(path, "id", "text")


def test_in_process_file_to_parquet(job_uris, tickets_csv, tmp_path):
    job = BatchJob("tfidf", job_uris, "ticket_id", "body", pii_person_names=False)
    output = tmp_path / "out" / "labels.parquet"
    summary = classify_file(tickets_csv, output, job, RoutingSettings(), workers=0, batch_size=50)
    written = pd.read_parquet(output)
    assert summary["tickets"] == 240 and summary["model_used"] == {"tfidf": 240}
    assert written["ticket_id"].tolist() == pd.read_csv(tickets_csv)["ticket_id"].tolist()


@pytest.mark.slow
def test_ray_with_two_workers_matches_one_process(job_uris, tickets_csv, tmp_path):
    """The CLI on a local Ray instance (2 actors): same tickets, same order, same answers."""
    outputs = {}
    for workers in (0, 2):
        output = tmp_path / f"labels-{workers}.parquet"
        completed = subprocess.run(
            [
                sys.executable, "-m", "callcenterai", "batch",
                "--input", str(tickets_csv), "--output", str(output),
                "--model", "agent-policy", "--text-column", "body", "--id-column", "ticket_id",
                "--workers", str(workers), "--batch-size", "16",
                "--tfidf-model", job_uris["tfidf"],
                "--transformer-model", job_uris["transformer"],
            ],
            capture_output=True, text=True, timeout=600,
            # TF-IDF for English only, so that the French and Arabic tickets reach the transformer
            env={**os.environ, "CALLCENTERAI_ROUTE_TFIDF_LANGUAGES": '["en"]'},
        )  # fmt: skip
        assert completed.returncode == 0, completed.stderr[-3000:]
        summary = json.loads(completed.stdout[completed.stdout.index("{") :])
        assert summary["tickets"] == 240 and summary["workers"] == workers
        outputs[workers] = pd.read_parquet(output)
    ids = pd.read_csv(tickets_csv)["ticket_id"].tolist()
    assert outputs[2]["ticket_id"].tolist() == ids
    pd.testing.assert_frame_equal(outputs[0], outputs[2])
    assert set(outputs[2]["model_used"]) == {"tfidf", "transformer"}


def test_a_missing_model_is_one_line_before_any_worker_starts(job_uris, tickets_csv, tmp_path):
    """Checked in the driver: no Ray instance is started for a job that cannot run."""
    import ray

    from callcenterai.errors import ModelNotFoundError

    broken = {**job_uris, "transformer": str(tmp_path / "no-such-model")}
    job = BatchJob("agent-policy", broken, "ticket_id", "body")
    with pytest.raises(ModelNotFoundError, match="no model at .*no-such-model"):
        classify_file(tickets_csv, tmp_path / "out.parquet", job, RoutingSettings(), workers=2)
    assert not ray.is_initialized() and not (tmp_path / "out.parquet").exists()


def test_a_damaged_model_is_one_line_before_any_worker_starts(job_uris, tickets_csv, tmp_path):
    """Files that look like a model but cannot be loaded: the CLI says so in one line."""
    damaged = tmp_path / "damaged"
    shutil.copytree(job_uris["tfidf"], damaged)
    for path in damaged.rglob("*.skops"):
        path.write_bytes(b"not a model")
    output = tmp_path / "labels.parquet"
    completed = subprocess.run(
        [
            sys.executable, "-m", "callcenterai", "batch",
            "--input", str(tickets_csv), "--output", str(output), "--model", "tfidf",
            "--text-column", "body", "--id-column", "ticket_id", "--workers", "2",
            "--tfidf-model", str(damaged),
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 1, completed.stderr[-3000:]
    assert "error: cannot load model" in completed.stderr and "damaged" in completed.stderr
    assert "Traceback" not in completed.stderr and "Ray instance" not in completed.stderr
    assert not output.exists()


def test_a_worker_failure_is_reported_by_its_cause():
    from callcenterai.batch import _ray_cause

    message = (
        'ray::MapWorker.__init__() (pid=1, ip=127.0.0.1)\n  File "batch.py", line 181\n'
        "callcenterai.errors.ModelNotFoundError: cannot load model m: its files are damaged\n"
        "\nDuring handling of the above exception, another exception occurred:\n"
    )
    assert _ray_cause(RuntimeError(message)) == (
        "callcenterai.errors.ModelNotFoundError: cannot load model m: its files are damaged"
    )
    assert _ray_cause(RuntimeError("")) == "RuntimeError"


def test_ray_workers_get_only_the_variables_they_need():
    """Secrets of the driver's shell never reach the cluster (a runtime env is shown on its
    dashboard and kept in its store); what the workers read to load the models does."""
    from callcenterai.batch import ray_runtime_env

    needed = {
        "MLFLOW_TRACKING_URI": "https://mlflow.example:5000",
        "CALLCENTERAI_HOME": "/srv/callcenterai",
        "CALLCENTERAI_MLFLOW_EXPERIMENT": "tickets",
        "CALLCENTERAI_CACHE_DIR": "/srv/cache",
    }
    secrets = {
        "CALLCENTERAI_API_KEY": "api-key-zebra",
        "CALLCENTERAI_STORE_URL": "postgresql+psycopg://agent:pw-zebra@db/tickets",
        "MLFLOW_TRACKING_USERNAME": "batch",
        "MLFLOW_TRACKING_PASSWORD": "pw-zebra",
        "MLFLOW_TRACKING_TOKEN": "token-zebra",
        "AWS_SECRET_ACCESS_KEY": "aws-zebra",
        "CALLCENTERAI_NEW_SECRET": "zebra",  # a variable added later is not shipped by default
    }
    env_vars = ray_runtime_env({**needed, **secrets, "PATH": "/usr/bin"})["env_vars"]
    assert needed.items() <= env_vars.items()
    assert not set(secrets) & set(env_vars)
    assert "zebra" not in repr(env_vars)


@pytest.mark.parametrize("existing", [None, b"the labels of an earlier run"])
def test_a_failing_job_leaves_no_partial_or_half_written_output(
    job_uris, tickets_csv, tmp_path, monkeypatch, existing
):
    """A worker lost after two batches were written: no .partial is left, and the output is
    the earlier run's, untouched, or absent."""
    from callcenterai import batch

    real, calls = batch.classify_frame, []

    def lost_on_the_third_batch(frame, *args):
        calls.append(len(frame))
        if len(calls) == 3:
            raise RuntimeError("worker lost")
        return real(frame, *args)

    monkeypatch.setattr(batch, "classify_frame", lost_on_the_third_batch)
    job = BatchJob("tfidf", job_uris, "ticket_id", "body", pii_person_names=False)
    output = tmp_path / "out" / "labels.parquet"
    if existing is not None:
        output.parent.mkdir()
        output.write_bytes(existing)
    with pytest.raises(RuntimeError, match="worker lost"):
        classify_file(tickets_csv, output, job, RoutingSettings(), workers=0, batch_size=50)
    assert calls == [50, 50, 50]  # two batches had been written when it failed
    left = sorted(path.name for path in output.parent.iterdir())
    assert left == ([] if existing is None else ["labels.parquet"])
    if existing is not None:
        assert output.read_bytes() == existing


def test_a_missing_model_writes_nothing(tickets_csv, tmp_path):
    job = BatchJob("tfidf", {"tfidf": str(tmp_path / "no-model")}, "ticket_id", "body")
    output = tmp_path / "out" / "labels.parquet"
    with pytest.raises(CallCenterAIError, match="no model at"):
        classify_file(tickets_csv, output, job, RoutingSettings(), workers=0)
    assert not output.exists() and list(output.parent.iterdir()) == []

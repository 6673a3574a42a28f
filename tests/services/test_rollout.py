"""Rollout without restart, against a real MLflow server and a real service process: the service
follows ``@production`` (a promotion under load switches it with no failed request), keeps the old
model when the new version is broken (and exports that), and follows a rollback."""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

import mlflow
import pytest
from mlflow import MlflowClient

from callcenterai.config import PRODUCTION_ALIAS, TFIDF_MODEL_NAME
from callcenterai.registry import move_production, production_history
from tests.conftest import free_port, start_service, use_home
from tests.services.test_integration import get, post

pytestmark = pytest.mark.slow

POLL_S = 1.0


def metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def served_version(port: int) -> str | None:
    model = get(port, "/health")["model"]
    return model and model["version"]


class Load:
    """Sends /predict requests without pause from a thread; records status and version."""

    def __init__(self, port: int):
        self.port, self.seen, self.failures = port, [], []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stopping.is_set():
            status, body = post(self.port, "/predict", {"text": "please order two new laptops"})
            if status == 200:
                self.seen.append((time.monotonic(), body["model"]["version"]))
            else:
                self.failures.append((status, body))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(timeout=30)


def register_broken_version(name: str) -> str:
    """A version whose artifact is not a model (what a bad upload or a damaged store gives)."""
    with mlflow.start_run() as run:
        mlflow.log_text("not a model", "broken/readme.txt")
    version = MlflowClient().create_model_version(
        name, source=f"runs:/{run.info.run_id}/broken", run_id=run.info.run_id
    )
    return str(version.version)


def rollback_cli(tracking_uri: str, home) -> dict:
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "CALLCENTERAI_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-m", "callcenterai", "rollback", "tfidf"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_promotion_broken_version_and_rollback_reach_the_running_service(
    mlflow_server, prepared, params, tmp_path, monkeypatch
):
    from callcenterai.pipeline import stage_promote, stage_train

    use_home(monkeypatch, tmp_path / "home", tracking_uri=mlflow_server)
    first = stage_train("tfidf", prepared, params).registered_version
    stage_promote(prepared, params)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": mlflow_server,
        "CALLCENTERAI_HOME": str(tmp_path),
        "CALLCENTERAI_MODEL_POLL_S": str(POLL_S),
    }
    env.pop("CALLCENTERAI_MODEL_URI", None)
    port = free_port()
    server = start_service("tfidf", port, tmp_path, env=env)
    try:
        assert served_version(port) == first
        assert get(port, "/health")["follows_alias"] is True

        # A promotion under load: no request fails, and the new version is served within the
        # polling interval (plus the load itself) of the alias moving.
        with Load(port) as load:
            time.sleep(1)
            second = stage_train("tfidf", prepared, params).registered_version
            decision = stage_promote(prepared, params)
            assert decision["promoted"] and decision["candidate_version"] == second
            moved = time.monotonic()
            wait_for(lambda: served_version(port) == second, 30, f"version {second} served")
            time.sleep(1)
        assert not load.failures, load.failures[:3]
        versions = [version for _, version in load.seen]
        assert versions[0] == first and versions[-1] == second
        switch = next(at for at, version in load.seen if version == second)
        assert switch - moved < 15, switch - moved  # poll 1 s + loading, on a busy 2-core machine
        assert versions == sorted(versions, key=versions.index)  # one switch, never back
        assert re.search(
            r'callcenterai_model_info\{.*version="%s"' % second, metrics(port)
        ), "model_info shows the version in use"

        # A broken version: the service keeps the old model and says why.
        broken = register_broken_version(TFIDF_MODEL_NAME)
        move_production(TFIDF_MODEL_NAME, broken, PRODUCTION_ALIAS)
        health = wait_for(
            lambda: (h := get(port, "/health"))["reload_error"] and h, 30, "reload error"
        )
        assert health["model"]["version"] == second and health["status"] == "ok"
        assert f"version {broken} failed to load" in health["reload_error"]
        exported = metrics(port)
        assert 'callcenterai_model_reload_failed{service="tfidf"} 1.0' in exported
        assert 'callcenterai_model_reloads_total{outcome="failed",service="tfidf"} 1.0' in exported
        assert post(port, "/predict", {"text": "my screen is broken"})[0] == 200

        # Rollback: production goes back to the previous production version, one step at a time.
        assert production_history(TFIDF_MODEL_NAME)[-3:] == [first, second, broken]
        assert rollback_cli(mlflow_server, tmp_path) == {
            "model": TFIDF_MODEL_NAME, "alias": PRODUCTION_ALIAS,
            "from_version": broken, "to_version": second,
        }  # fmt: skip
        wait_for(
            lambda: get(port, "/health")["reload_error"] is None, 30, "failure cleared by rollback"
        )
        assert 'callcenterai_model_reload_failed{service="tfidf"} 0.0' in metrics(port)
        assert rollback_cli(mlflow_server, tmp_path)["to_version"] == first
        wait_for(lambda: served_version(port) == first, 30, f"rolled back to {first}")
    finally:
        server.stop()

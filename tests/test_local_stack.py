"""The README's first quick-start command: the whole system started locally, used, and stopped.

Runs ``callcenterai up`` (what ``make run`` runs) on free ports, on the shipped real tickets:
MLflow, TF-IDF trained and served first, the transformer service waiting for its model, the agent
and Prometheus. Real-looking tickets get their expected categories from TF-IDF while the agent says
the transformer is being trained; the quick transformer then joins without a restart. MLflow holds
the runs and both models with a production alias, Prometheus scrapes every target, and Ctrl-C
(SIGINT) leaves no process behind.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest
import yaml

from callcenterai.config import PROJECT_ROOT
from tests.conftest import free_port, needs_prometheus, prometheus_query

pytestmark = pytest.mark.slow


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # nosec B310 - loopback
        return json.loads(response.read())


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:  # nosec B310 - loopback
        return json.loads(response.read())


# Written for this test (not from any dataset), in the style users type.
REAL_LOOKING_TICKETS = [
    ("Hello, my laptop screen stays black since this morning, the charger light is on. "
     "Call me at +33 6 12 34 56 78", "Hardware"),
    ("Bonjour, mon mot de passe a expiré et je n'arrive plus à me connecter au VPN, "
     "pouvez-vous réinitialiser mon accès ?", "Access"),
]  # fmt: skip


def wait_for_line(process, log_path, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log_path.read_text()
        if text in output:
            return output
        if process.poll() is not None:
            raise AssertionError(f"`callcenterai up` exited early:\n{output[-4000:]}")
        time.sleep(1)
    raise AssertionError(f"no {text!r} after {timeout} s:\n{log_path.read_text()[-4000:]}")


def smaller_quick_profile(tmp_path) -> str:
    """The project's parameters with a smaller quick transformer (fewer Kaggle tickets, shorter
    inputs): this test checks that it is trained and joins, ``benchmarks/first_start.py`` times
    the real profile. Written to a file given to ``up --params``."""
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["quick"]["transformer"].update(max_train_samples=400, max_val_samples=300, max_length=32)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return str(path)


@needs_prometheus
def test_local_stack_up_classify_and_stop(tmp_path):
    ports = {
        name: free_port() for name in ("mlflow", "agent", "tfidf", "transformer", "prometheus")
    }
    folder = tmp_path / "stack"
    command = [sys.executable, "-m", "callcenterai", "up", "--dir", str(folder)]
    command += ["--params", smaller_quick_profile(tmp_path)]
    for name, port in ports.items():
        command += [f"--{name}-port", str(port)]
    log_path = tmp_path / "up.log"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        output = wait_for_line(process, log_path, "CallCenterAI is running", timeout=600)
        assert f"chat page      http://127.0.0.1:{ports['agent']}/" in output
        assert "transformer up on" in output and "waiting for a production version" in output
        children = json.loads((folder / "stack.json").read_text())["children"]
        assert set(children) >= {"mlflow", "tfidf", "transformer", "agent", "prometheus"}

        agent = f"http://127.0.0.1:{ports['agent']}"
        # TF-IDF, trained on the real tickets, answers while the transformer is trained.
        health = get(f"{agent}/health")
        assert health["status"] == "degraded"
        assert "transformer service has no model yet" in health["notice"]
        for text, expected in REAL_LOOKING_TICKETS:
            answer = post(f"{agent}/classify", {"text": text})
            assert answer["label"] == expected, (text, answer["label"])
            assert answer["model_used"] == "tfidf"
        answer = post(f"{agent}/classify", {"text": REAL_LOOKING_TICKETS[0][0]})
        assert answer["pii"] == {"PHONE": 1}

        # The quick transformer joins without a restart.
        output = wait_for_line(process, log_path, "transformer: production version", 1200)
        assert "transformer training: [" in output and "left" in output  # progress shown
        deadline = time.monotonic() + 60
        while get(f"{agent}/health")["status"] != "ok" and time.monotonic() < deadline:
            time.sleep(1)
        assert get(f"{agent}/health")["notice"] is None
        forced = post(
            f"{agent}/classify", {"text": REAL_LOOKING_TICKETS[1][0], "force_model": "transformer"}
        )
        assert forced["model_used"] == "transformer" and forced["model"]["version"] == "1"

        from mlflow import MlflowClient

        url = f"http://127.0.0.1:{ports['mlflow']}"
        # Both URIs: earlier tests in the same process may have set a global registry URI.
        client = MlflowClient(tracking_uri=url, registry_uri=url)
        runs = client.search_runs([client.get_experiment_by_name("callcenterai").experiment_id])
        assert {run.data.tags.get("model_kind") for run in runs} >= {"tfidf", "transformer"}
        for name in ("callcenterai-tfidf", "callcenterai-transformer"):
            assert client.get_model_version_by_alias(name, "production").version == "1"

        prometheus = f"http://127.0.0.1:{ports['prometheus']}"
        deadline, healthy = time.monotonic() + 60, []
        while time.monotonic() < deadline:
            healthy = sorted(s["metric"]["job"] for s in prometheus_query(prometheus, "up == 1"))
            if healthy == ["agent", "tfidf", "transformer"]:
                break
            time.sleep(1)
        assert healthy == ["agent", "tfidf", "transformer"]

        children = json.loads((folder / "stack.json").read_text())["children"]
        assert "transformer-training" not in children  # it finished and left the pidfile
        pids = list(children.values())
        descendants = [
            child.pid for pid in pids for child in psutil.Process(pid).children(recursive=True)
        ]
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        code = process.wait(timeout=90)
    assert code == 0, log_path.read_text()[-3000:]
    assert "stopped" in log_path.read_text()
    survivors = [pid for pid in pids + descendants if psutil.pid_exists(pid)]
    survivors = [pid for pid in survivors if psutil.Process(pid).status() != "zombie"]
    assert survivors == [], [psutil.Process(pid).cmdline() for pid in survivors]
    assert not (folder / "stack.json").exists()

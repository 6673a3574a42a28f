"""Services as real processes: loopback HTTP, a real Prometheus, models from an MLflow server."""

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import (
    free_port,
    needs_prometheus,
    start_prometheus,
    start_service,
    use_home,
    wait_for_series,
)

pytestmark = pytest.mark.slow


def post(port: int, path: str, body) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # nosec B310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:  # nosec
        return json.loads(response.read())


@needs_prometheus
def test_both_services_over_http_scraped_by_prometheus(tfidf_dir, tiny_transformer_dir, tmp_path):
    tfidf_port, transformer_port = free_port(), free_port()
    servers, prometheus = [], None
    try:
        servers.append(start_service("tfidf", tfidf_port, tmp_path, "--model", str(tfidf_dir)))
        servers.append(
            start_service(
                "transformer", transformer_port, tmp_path, "--model", str(tiny_transformer_dir)
            )
        )
        for port in (tfidf_port, transformer_port):
            status, body = post(port, "/predict", {"text": "My laptop screen is broken"})
            assert status == 200 and body["probabilities"]
            status, body = post(port, "/predict", {"text": " "})
            assert status == 422 and "empty" in body["detail"]
        assert (
            post(tfidf_port, "/predict", {"text": "My laptop is broken"})[1]["label"] == "Hardware"
        )
        prometheus, url = start_prometheus(
            {"tfidf": tfidf_port, "transformer": transformer_port}, tmp_path
        )
        for job in ("tfidf", "transformer"):  # each target scraped and up (order not fixed)
            up = wait_for_series(url, f'up{{job="{job}"}} == 1')
            assert up[0]["metric"]["instance"].startswith("127.0.0.1:")
        for service in ("tfidf", "transformer"):
            requests = wait_for_series(
                url, f'callcenterai_requests_total{{service="{service}",endpoint="/predict"}}'
            )
            statuses = {series["metric"]["status"] for series in requests}
            assert {"200", "422"} <= statuses
            info = wait_for_series(url, f'callcenterai_model_info{{service="{service}"}}')
            assert info[0]["metric"]["kind"] == service
    finally:
        for server in servers:
            server.stop()
        if prometheus:
            prometheus.stop()


def test_missing_model_fails_at_start_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "callcenterai", "serve", "tfidf", "--model", str(tmp_path / "none"),
         "--port", str(free_port())],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "error: no model at" in result.stderr
    assert "Traceback" not in result.stderr


def test_service_loads_the_production_alias_from_an_mlflow_server(
    mlflow_server, prepared, params, tmp_path, monkeypatch
):
    from callcenterai.pipeline import stage_promote, stage_train

    use_home(monkeypatch, tmp_path / "home", tracking_uri=mlflow_server)
    result = stage_train("tfidf", prepared, params)
    stage_promote(prepared, params)
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server, "CALLCENTERAI_HOME": str(tmp_path)}
    env.pop("CALLCENTERAI_MODEL_URI", None)
    port = free_port()
    server = start_service("tfidf", port, tmp_path, env=env)
    try:
        health = get(port, "/health")
        assert health["uri"] == "models:/callcenterai-tfidf@production"
        assert health["model"] == {
            "name": "callcenterai-tfidf",
            "version": result.registered_version,
        }
        status, body = post(port, "/predict", {"text": "please order two new laptops"})
        assert status == 200 and body["model"]["version"] == result.registered_version
    finally:
        server.stop()

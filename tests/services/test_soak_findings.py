"""What the soak with faults (benchmarks/soak.py) found, each pinned by a test of its own:

- the agent's 503s (no model answered, a forced model unavailable) had no ``Retry-After``: a
  client could not tell when to come back;
- a model service following a registry alias did not start while MLflow was down: building
  the app asked the tracking server for the experiment, under MLflow's retry schedule (about
  four minutes of back-off), then exited; nothing answered ``/health`` meanwhile.
"""

import os
import time

from fastapi.testclient import TestClient

from benchmarks.soak import tracking_at
from callcenterai.config import Settings
from callcenterai.services.agent_service import create_agent_app
from callcenterai.services.model_service import create_model_app
from tests.conftest import free_port


def test_a_503_from_the_agent_says_when_to_retry():
    """Both model services refuse connections: 503 with a couple of seconds to wait while the
    breakers are closed, then what is left of the breakers' pause once they are open."""
    nothing = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = Settings(
        tfidf_url=nothing,
        transformer_url=nothing,
        breaker_failures=2,
        breaker_reset_s=30,
        pii_person_names=False,
        store_enabled=False,
    )
    with TestClient(create_agent_app(settings)) as client:
        first = client.post("/classify", json={"text": "my laptop screen is broken"})
        assert first.status_code == 503 and "no model service answered" in first.json()["detail"]
        assert first.headers["retry-after"] == "2"  # one failure each: breakers still closed

        second = client.post("/classify", json={"text": "my laptop screen is broken"})
        assert second.status_code == 503  # second failure each: both breakers open now
        assert 25 <= int(second.headers["retry-after"]) <= 30

        forced = client.post("/classify", json={"text": "printer jam", "force_model": "tfidf"})
        assert forced.status_code == 503 and "forced model" in forced.json()["detail"]
        assert "circuit_open" in forced.json()["detail"]
        assert 25 <= int(forced.headers["retry-after"]) <= 30
        assert client.get("/health").json()["downstream"]["tfidf"]["breaker"] == "open"


def test_a_model_service_starts_while_the_registry_is_down(monkeypatch):
    """The app is built without asking MLflow; /health answers and says why there is no model;
    the loading thread keeps asking. Each try gives up after the service's own few HTTP retries
    (seconds), not MLflow's default schedule (minutes of back-off, and 20-25 s of waiting after
    the server is back, as the soak measured)."""
    import mlflow

    from callcenterai.tracking import SERVING_HTTP_RETRIES

    for name in SERVING_HTTP_RETRIES:  # unset, and unset again after the test
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    down = f"http://127.0.0.1:{free_port()}"
    # The service points this process's MLflow at the dead server: point it back afterwards.
    with tracking_at(mlflow.get_tracking_uri()):
        serves_without_a_registry(down)
    assert {name: os.environ.get(name) for name in SERVING_HTTP_RETRIES} == SERVING_HTTP_RETRIES


def serves_without_a_registry(down: str) -> None:
    settings = Settings(mlflow_tracking_uri=down, model_poll_s=10)
    started = time.monotonic()
    app = create_model_app("tfidf", settings)
    assert time.monotonic() - started < 5
    with TestClient(app) as client:
        deadline = time.monotonic() + 15
        while client.get("/health").json()["status"] == "loading":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        health = client.get("/health").json()
        assert health["uri"] == "models:/callcenterai-tfidf@production" and health["follows_alias"]
        assert health["status"] == "failed" and not health["ready"]
        assert "cannot ask the registry" in health["error"]
        assert client.get("/ready").status_code == 503
        assert client.post("/predict", json={"text": "printer jam"}).status_code == 503


def test_a_busy_model_service_is_neither_unready_nor_a_breaker_failure():
    """A model service whose micro-batch queue is full answers 503 with Retry-After: the agent
    names it busy (not "no model yet") and does not count it against the breaker."""
    import asyncio
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from callcenterai.services.downstream import DownstreamError, ModelClient
    from callcenterai.services.metrics import AgentMetrics

    class Busy(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server naming
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'{"detail": "the service is busy"}'
            self.send_response(503)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    async def ask_three_times():
        client = ModelClient(
            "tfidf", f"http://127.0.0.1:{server.server_port}", 2.0, 2, 30.0, AgentMetrics("t")
        )
        reasons = []
        for _ in range(3):
            try:
                await client.predict("printer jam")
            except DownstreamError as error:
                reasons.append(error.reason)
        state = client.breaker_state
        await client.close()
        return reasons, state

    try:
        reasons, state = asyncio.run(ask_three_times())
    finally:
        server.shutdown()
    assert reasons == ["busy"] * 3
    assert state == "closed"


def test_the_timeout_bounds_the_whole_call_not_each_read():
    """A service that sends its answer a few bytes at a time, each read well within the timeout,
    still fails the call once the timeout is spent (httpx's own timeout is per read)."""
    import asyncio
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from callcenterai.services.downstream import DownstreamError, ModelClient
    from callcenterai.services.metrics import AgentMetrics

    body = b'{"label": "Hardware", "confidence": 0.9, "probabilities": {"Hardware": 0.9}}'

    class Dribbling(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server naming
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for start in range(0, len(body), 8):  # 10 pieces, 0.2 s apart: 2 s in all
                self.wfile.write(body[start : start + 8])
                self.wfile.flush()
                time.sleep(0.2)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Dribbling)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    async def ask_once():
        client = ModelClient(
            "transformer", f"http://127.0.0.1:{server.server_port}", 0.5, 5, 30.0, AgentMetrics("t")
        )
        started = time.perf_counter()
        try:
            await client.predict("printer jam")
            reason = None
        except DownstreamError as error:
            reason = error.reason
        elapsed = time.perf_counter() - started
        await client.close()
        return reason, elapsed

    try:
        reason, elapsed = asyncio.run(ask_once())
    finally:
        server.shutdown()
    assert reason == "timeout"
    assert elapsed < 1.5  # not the 2 s the answer takes to arrive

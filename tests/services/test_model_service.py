"""Contract tests of the model services: schema, status codes, every bad input, metrics."""

import math

import pytest
from fastapi.testclient import TestClient

from callcenterai.sample import LABELS
from callcenterai.services.model_service import create_model_app
from tests.services.conftest import wait_ready

TICKET = "Hello, I cannot log in to SAP, my account is locked. Thanks"


def test_predict_contract(tfidf_client):
    response = tfidf_client.post("/predict", json={"text": TICKET})
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"label", "confidence", "probabilities", "model"}
    assert body["label"] == "Access"
    assert set(body["probabilities"]) == set(LABELS)
    assert math.isclose(sum(body["probabilities"].values()), 1.0, rel_tol=1e-6)
    assert body["confidence"] == max(body["probabilities"].values())
    assert body["model"] == {"name": "callcenterai-tfidf", "version": "local"}
    assert body["explanation"] is None


def test_explanation_on_request(tfidf_client):
    body = tfidf_client.post("/predict", json={"text": TICKET, "explain": True}).json()
    terms = [t["term"] for t in body["explanation"]]
    assert terms and all(t in TICKET.lower() for t in terms)


def test_batch_keeps_order(tfidf_client):
    texts = [TICKET, "Please order 3 new headsets", "My mailbox is full, increase the quota"]
    batch = tfidf_client.post("/predict/batch", json={"texts": texts}).json()["predictions"]
    singles = [tfidf_client.post("/predict", json={"text": t}).json() for t in texts]
    assert [p["label"] for p in batch] == [p["label"] for p in singles]
    assert [p["label"] for p in batch] == ["Access", "Purchase", "Storage"]


@pytest.mark.parametrize(
    "path,kwargs,status,message",
    [
        ("/predict", {"json": {"text": ""}}, 422, "text is empty"),
        ("/predict", {"json": {"text": "   \n\t "}}, 422, "text is empty"),
        ("/predict", {"json": {"text": "x" * 501}}, 413, "501 characters; the limit is 500"),
        ("/predict", {"content": b"{not json", "headers": {"content-type": "application/json"}},
         400, "not valid JSON"),
        ("/predict", {"json": {"text": 42}}, 422, "text: Input should be a valid string"),
        ("/predict", {"json": {"ticket": "hi"}}, 422, "text: Field required"),
        ("/predict", {"json": ["a list"]}, 422, ""),
        ("/predict/batch", {"json": {"texts": ["a"] * 5}}, 413, "5 texts in one batch; limit is 4"),
        ("/predict/batch", {"json": {"texts": []}}, 422, "texts is empty"),
        ("/predict/batch", {"json": {"texts": ["ok", " "]}}, 422, "texts[1] is empty"),
        ("/predict/batch", {"json": {"texts": "not a list"}}, 422, "texts"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("kind", ["tfidf", "transformer"])
def test_bad_input_gets_a_clear_status(request, kind, path, kwargs, status, message):
    client = request.getfixturevalue(f"{kind}_client")
    response = client.post(path, **kwargs)
    assert response.status_code == status
    detail = response.json()["detail"]
    assert isinstance(detail, str) and message in detail
    assert "Traceback" not in response.text


def test_health_and_readiness(tfidf_client):
    health = tfidf_client.get("/health").json()
    assert health["status"] == "ok" and health["ready"] is True
    assert health["model"]["name"] == "callcenterai-tfidf"
    assert tfidf_client.get("/ready").status_code == 200


def test_missing_model_is_reported_not_crashed(tmp_path, service_settings):
    app = create_model_app("tfidf", service_settings, model_uri=str(tmp_path / "missing"))
    with TestClient(app) as client:
        app.state.model_state.loaded.wait(30)
        health = client.get("/health")
        assert health.status_code == 200  # alive: restarting would not bring the model back
        assert health.json()["status"] == "failed"
        assert "no model at" in health.json()["error"]
        assert client.get("/ready").status_code == 503
        response = client.post("/predict", json={"text": TICKET})
        assert response.status_code == 503 and "no model at" in response.json()["detail"]


def test_not_ready_while_loading(service_settings, tfidf_dir):
    import threading

    release = threading.Event()

    def slow_loader():
        release.wait(10)
        from callcenterai.models.store import load_classifier

        return load_classifier(str(tfidf_dir))

    app = create_model_app("tfidf", service_settings, loader=slow_loader, model_uri="slow")
    with TestClient(app) as client:
        assert client.get("/health").json()["status"] == "loading"
        assert client.get("/ready").status_code == 503
        assert client.post("/predict", json={"text": TICKET}).status_code == 503
        release.set()
        wait_ready(client)
        assert client.post("/predict", json={"text": TICKET}).status_code == 200


def test_metrics_count_requests_errors_and_predictions_without_text(tfidf_client):
    secret = "zebracornflakes"
    tfidf_client.post("/predict", json={"text": f"{TICKET} {secret}"})
    tfidf_client.post("/predict", json={"text": ""})
    tfidf_client.get("/no/such/path/" + secret)
    text = tfidf_client.get("/metrics").text
    assert (
        'callcenterai_requests_total{endpoint="/predict",method="POST",'
        'service="tfidf",status="200"}' in text
    )
    assert 'callcenterai_errors_total{endpoint="/predict",service="tfidf",type="http_422"}' in text
    assert 'endpoint="unmatched"' in text
    assert 'callcenterai_predictions_total{label="Access",model="callcenterai-tfidf"' in text
    assert "callcenterai_prediction_confidence_bucket" in text
    assert "callcenterai_request_duration_seconds_bucket" in text
    assert 'callcenterai_model_info{kind="tfidf",name="callcenterai-tfidf"' in text
    assert "callcenterai_requests_in_flight" in text
    assert secret not in text


def test_openapi_has_examples(tfidf_client):
    schema = tfidf_client.get("/openapi.json").json()
    assert {"/predict", "/predict/batch", "/health", "/ready"} <= set(schema["paths"])
    assert schema["components"]["schemas"]["PredictRequest"]["examples"]


def test_transformer_service_contract(transformer_client, tiny_transformer_dir):
    client = transformer_client
    body = client.post("/predict", json={"text": TICKET}).json()
    assert set(body["probabilities"]) == set(LABELS)
    assert math.isclose(sum(body["probabilities"].values()), 1.0, rel_tol=1e-5)
    assert body["model"] == {"name": tiny_transformer_dir.name, "version": "local"}
    batch = client.post("/predict/batch", json={"texts": [TICKET, "Bonjour"]}).json()
    assert [len(p["probabilities"]) for p in batch["predictions"]] == [len(LABELS)] * 2
    assert client.post("/predict", json={"text": ""}).status_code == 422
    metrics = client.get("/metrics").text
    assert 'callcenterai_model_info{kind="transformer"' in metrics


def test_micro_batching_joins_concurrent_requests(tfidf_dir):
    from concurrent.futures import ThreadPoolExecutor

    from callcenterai.config import Settings
    from callcenterai.models.base import Classifier
    from callcenterai.models.store import load_classifier

    model = load_classifier(str(tfidf_dir))
    calls = []

    class CountingModel(Classifier):
        name, version, labels = model.name, model.version, model.labels

        def predict_proba(self, texts):
            calls.append(len(texts))
            return model.predict_proba(texts)

    settings = Settings(micro_batch_size=8, micro_batch_wait_ms=500)
    app = create_model_app("tfidf", settings, loader=CountingModel, model_uri="counting")
    texts = [TICKET, "Please order 3 new headsets", "My mailbox is full"] * 2
    with TestClient(app) as client:
        wait_ready(client)
        with ThreadPoolExecutor(len(texts)) as pool:
            bodies = list(
                pool.map(lambda t: client.post("/predict", json={"text": t}).json(), texts)
            )
    assert [b["label"] for b in bodies] == model.predict(texts)
    assert sum(calls) == len(texts) and len(calls) < len(texts)


def test_unexpected_error_is_a_500_without_trace_or_input_in_logs(tfidf_dir, caplog):
    from callcenterai.config import Settings

    app = create_model_app("tfidf", Settings(), model_uri=str(tfidf_dir))

    @app.get("/boom")
    def boom():
        raise ValueError("ticket text: jane.doe@example.com")

    with TestClient(app) as client:
        response = client.get("/boom")
        metrics = client.get("/metrics").text
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error; see the service log"}
    assert (
        'callcenterai_errors_total{endpoint="/boom",service="tfidf",type="ValueError"}' in metrics
    )
    assert "jane.doe" not in caplog.text and "Traceback" not in caplog.text
    assert "unexpected ValueError on /boom" in caplog.text


def test_alias_state_waits_swaps_keeps_the_old_model_on_failure_and_recovers(tfidf_dir):
    """ModelState's decisions, poll by poll (the registry is replaced by a list of answers here;
    tests/services/test_rollout.py runs the same against a real MLflow server)."""
    from callcenterai.models.store import load_classifier
    from callcenterai.services.model_service import AliasSource, ModelState

    loaded = []

    def load_version(version):
        if version == "3":
            raise ValueError("damaged artifact")
        loaded.append(version)
        model = load_classifier(str(tfidf_dir))
        model.version = version
        return model

    source = AliasSource("models:/callcenterai-tfidf@production", load_version)
    answers = iter([None, "1", "1", "2", "3", "3", "2", "1"])
    source.current = lambda: next(answers)
    state = ModelState("tfidf", source.uri, source=source)

    state.load()  # no version yet
    assert state.status == "waiting" and state.model is None and "no version holds" in state.error
    assert state.refresh() and state.version == "1" and state.status == "ok"
    assert not state.refresh() and loaded == ["1"]  # unchanged alias: nothing loaded again
    first = state.model
    assert state.refresh() and state.version == "2" and first.version == "1"  # old one intact
    assert not state.refresh() and state.version == "2"  # version 3 is broken
    assert "version 3 failed to load" in state.reload_error and state.status == "ok"
    assert not state.refresh() and loaded == ["1", "2"]  # not retried within its back-off
    assert not state.refresh() and state.reload_error is None  # rolled back to 2: failure clear
    assert state.refresh() and state.version == "1"
    text = state.metrics.render()[0].decode()
    assert 'callcenterai_model_reloads_total{outcome="loaded",service="tfidf"} 3.0' in text
    assert 'callcenterai_model_reloads_total{outcome="failed",service="tfidf"} 1.0' in text
    assert 'callcenterai_model_reload_failed{service="tfidf"} 0.0' in text


def test_a_version_that_failed_to_load_is_tried_again_with_back_off(tfidf_dir):
    """A download cut short (the registry restarting) is not final: the same version is tried
    again once its back-off has passed, the wait doubling per failure, and served once it loads."""
    from callcenterai.models.store import load_classifier
    from callcenterai.services.model_service import AliasSource, ModelState

    failures = iter([ConnectionError("registry went away"), OSError("truncated download")])

    def load_version(version):
        failure = next(failures, None)
        if failure is not None:
            raise failure
        model = load_classifier(str(tfidf_dir))
        model.version = version
        return model

    source = AliasSource("models:/callcenterai-tfidf@production", load_version)
    source.current = lambda: "1"
    state = ModelState("tfidf", source.uri, source=source)
    state.load()
    assert state.model is None and "tried 1 time(s); next try in 30 s" in state.error
    first_retry = state.retry_at
    assert not state.refresh() and state.failed_attempts == 1  # within its back-off: not tried
    state.retry_at = 0  # the back-off has passed
    assert not state.refresh() and "tried 2 time(s); next try in 60 s" in state.reload_error
    assert state.retry_at > first_retry
    state.retry_at = 0
    assert state.refresh() and state.version == "1" and state.status == "ok"
    assert state.reload_error is None and state.failed_attempts == 0
    text = state.metrics.render()[0].decode()
    assert 'callcenterai_model_reloads_total{outcome="failed",service="tfidf"} 2.0' in text
    assert 'callcenterai_model_reload_failed{service="tfidf"} 0.0' in text


def blocked_model(tfidf_dir):
    """A real model whose calls wait for ``release``: requests queue behind the first call."""
    import threading

    from callcenterai.models.base import Classifier
    from callcenterai.models.store import load_classifier

    model = load_classifier(str(tfidf_dir))
    entered, release, computed = threading.Event(), threading.Event(), []

    class BlockedModel(Classifier):
        name, version, labels = model.name, model.version, model.labels

        def predict_proba(self, texts):
            computed.extend(texts)
            entered.set()
            release.wait(30)
            return model.predict_proba(texts)

    return BlockedModel, entered, release, computed


def wait_until(condition, timeout: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_full_micro_batch_queue_answers_503_with_retry_after(tfidf_dir):
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from callcenterai.config import Settings

    BlockedModel, entered, release, computed = blocked_model(tfidf_dir)
    settings = Settings(micro_batch_size=8, micro_batch_queue_size=2)
    app = create_model_app("tfidf", settings, loader=BlockedModel, model_uri="blocked")
    with TestClient(app) as client, ThreadPoolExecutor(4) as pool:
        wait_ready(client)
        try:
            first = pool.submit(client.post, "/predict", json={"text": TICKET})
            assert entered.wait(10)  # its batch is in the model: the queue is empty
            queued = [pool.submit(client.post, "/predict", json={"text": TICKET}) for _ in "abc"]
            done, _ = wait(queued, timeout=10, return_when=FIRST_COMPLETED)
            assert done, "no request was refused while the queue was full"
            (refused,) = done
            response = refused.result()
            assert response.status_code == 503
            assert response.headers["retry-after"].isdigit()
            assert "2 requests are already waiting" in response.json()["detail"]
        finally:
            release.set()
        answered = [future.result() for future in [first, *queued] if future is not refused]
        assert [r.status_code for r in answered] == [200, 200, 200]
        metrics = client.get("/metrics").text
    assert len(computed) == 3
    assert 'callcenterai_micro_batch_dropped_total{reason="queue_full",service="tfidf"} 1.0' in (
        metrics
    )
    assert 'callcenterai_errors_total{endpoint="/predict",service="tfidf",type="http_503"}' in (
        metrics
    )


async def post_and_hang_up(app, text: str) -> list[dict]:
    """POST /predict straight to the ASGI app, from a client that is gone once the body is sent
    (what uvicorn reports after a client timed out and closed its connection)."""
    import json

    body = json.dumps({"text": text}).encode()
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/predict", "raw_path": b"/predict", "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }  # fmt: skip
    await app(scope, receive, send)
    return sent


def test_requests_whose_client_is_gone_are_not_computed(tfidf_dir):
    """Queued behind a busy model: one client hangs up, one request is cancelled; neither is
    computed when the model is free again, the request that still waits is."""
    from concurrent.futures import ThreadPoolExecutor

    from callcenterai.config import Settings

    BlockedModel, entered, release, computed = blocked_model(tfidf_dir)
    settings = Settings(micro_batch_size=8)
    app = create_model_app("tfidf", settings, loader=BlockedModel, model_uri="blocked")
    hung_up, cancelled, waiting = "ticket A hung up", "ticket B cancelled", "ticket C waits"
    with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
        wait_ready(client)
        queue = lambda: app.state.batcher.queue.qsize()  # noqa: E731
        try:
            first = pool.submit(client.post, "/predict", json={"text": TICKET})
            assert entered.wait(10)
            gone = client.portal.start_task_soon(post_and_hang_up, app, hung_up)
            wait_until(lambda: queue() == 1)
            dropped = client.portal.start_task_soon(post_and_hang_up, app, cancelled)
            wait_until(lambda: queue() == 2)
            dropped.cancel()
            answered = pool.submit(client.post, "/predict", json={"text": waiting})
            wait_until(lambda: queue() == 3)
        finally:
            release.set()
        assert first.result().status_code == 200 and answered.result().status_code == 200
        assert gone.result(10)[0]["status"] == 499  # to nobody: the client is gone
        metrics = client.get("/metrics").text
    assert computed == [TICKET, waiting]
    assert 'callcenterai_micro_batch_dropped_total{reason="cancelled",service="tfidf"} 2.0' in (
        metrics
    )


def test_a_ticket_at_the_length_limit_fits_the_body_limit_in_any_json(tfidf_dir):
    """The body limit must admit every valid request: a ticket of the longest allowed text,
    every character an emoji, sent as ASCII-only JSON (Python's default: 12 bytes each)."""
    import json

    from callcenterai.config import Settings
    from tests.services.conftest import ready_client

    settings = Settings(max_text_chars=5000, max_batch_size=1)
    body = json.dumps({"text": "\U0001f4bb" * settings.max_text_chars}).encode()
    assert len(body) > 6 * settings.max_text_chars + 16_384  # over the old limit
    for client in ready_client("tfidf", tfidf_dir, settings):
        response = client.post(
            "/predict", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 200, response.text

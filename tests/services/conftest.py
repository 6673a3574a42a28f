import time

import pytest
from fastapi.testclient import TestClient

from callcenterai.config import Settings
from callcenterai.services.model_service import create_model_app


def wait_ready(client: TestClient, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/ready").status_code == 200:
            return
        time.sleep(0.05)
    raise TimeoutError(client.get("/health").json())


@pytest.fixture
def service_settings() -> Settings:
    return Settings(max_text_chars=500, max_batch_size=4)


def ready_client(kind: str, model_dir, settings: Settings):
    with TestClient(create_model_app(kind, settings, model_uri=str(model_dir))) as client:
        wait_ready(client)
        yield client


@pytest.fixture
def transformer_client(tiny_transformer_dir, service_settings):
    yield from ready_client("transformer", tiny_transformer_dir, service_settings)


@pytest.fixture
def tfidf_client(tfidf_dir, service_settings):
    yield from ready_client("tfidf", tfidf_dir, service_settings)


@pytest.fixture(scope="session")
def model_services(tfidf_dir, tiny_transformer_dir, tmp_path_factory):
    """Both model services as real processes on loopback, shared by the agent tests."""
    from tests.conftest import free_port, start_service

    logs = tmp_path_factory.mktemp("model-services")
    ports = {"tfidf": free_port(), "transformer": free_port()}
    servers = []
    try:
        servers.append(start_service("tfidf", ports["tfidf"], logs, "--model", str(tfidf_dir)))
        servers.append(
            start_service(
                "transformer", ports["transformer"], logs, "--model", str(tiny_transformer_dir)
            )
        )
        yield {kind: f"http://127.0.0.1:{port}" for kind, port in ports.items()}
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def champion_and_challenger(trained, params):
    """Version 1 in production, version 2 (another C) in staging, in the test's registry."""
    layout, first = trained
    from callcenterai.pipeline import stage_promote, stage_train

    stage_promote(layout, params)
    other = params.model_copy(update={"tfidf": params.tfidf.model_copy(update={"C": 0.02})})
    second = stage_train("tfidf", layout, other)
    return layout, first.registered_version, second.registered_version

import time

import pytest
from fastapi.testclient import TestClient

from callcenterai.config import Params, Settings
from callcenterai.data import load_tickets
from callcenterai.models.store import save_tfidf
from callcenterai.models.tfidf import TfidfClassifier
from callcenterai.sample import write_sample
from callcenterai.services.model_service import create_model_app


@pytest.fixture(scope="session")
def tfidf_dir(tmp_path_factory):
    """A TF-IDF model folder trained on the sample (no MLflow run needed)."""
    root = tmp_path_factory.mktemp("tfidf-model")
    frame, _ = load_tickets(write_sample(root / "s.csv", n=1200), ["Document"], "Topic_group")
    model = TfidfClassifier.train(frame["text"], frame["label"], Params().tfidf)
    return save_tfidf(model, root / "model", {"registered_model_name": "callcenterai-tfidf"})


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


@pytest.fixture
def transformer_client(tiny_transformer_dir, service_settings):
    app = create_model_app("transformer", service_settings, model_uri=str(tiny_transformer_dir))
    with TestClient(app) as client:
        wait_ready(client)
        yield client


@pytest.fixture
def tfidf_client(tfidf_dir, service_settings):
    app = create_model_app("tfidf", service_settings, model_uri=str(tfidf_dir))
    with TestClient(app) as client:
        wait_ready(client)
        yield client


@pytest.fixture(scope="session")
def tiny_transformer_dir(tiny_distilbert, tmp_path_factory):
    """A serving folder (MLflow pyfunc, ONNX int8) of a tiny DistilBERT fine-tuned on the sample."""
    from callcenterai.config import TransformerParams
    from callcenterai.models.store import save_transformer
    from callcenterai.models.transformer import (
        export_onnx,
        fine_tune,
        quantize_int8,
        write_serving_dir,
    )

    root = tmp_path_factory.mktemp("tiny-transformer")
    frame, _ = load_tickets(write_sample(root / "s.csv", n=400), ["Document"], "Topic_group")
    params = TransformerParams(max_length=32, batch_size=16, epochs=2, learning_rate=1e-3)
    result = fine_tune(
        frame["text"][:300], frame["label"][:300], frame["text"][300:], frame["label"][300:],
        params, tiny_distilbert, root / "hf",
    )  # fmt: skip
    onnx = quantize_int8(export_onnx(result.output_dir, root / "fp32.onnx"), root / "int8.onnx")
    serving = write_serving_dir(result.output_dir, onnx, root / "build" / "serving")
    return save_transformer(serving, root / "model", {})


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

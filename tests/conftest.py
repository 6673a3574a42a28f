"""Shared fixtures: an isolated MLflow store per test, the built-in sample, a trained model."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callcenterai.config import PROJECT_ROOT, Params, get_settings
from callcenterai.data import load_tickets
from callcenterai.models.store import save_model
from callcenterai.models.tfidf import TfidfClassifier
from callcenterai.pipeline import Layout, stage_prepare, stage_train
from callcenterai.sample import write_sample
from callcenterai.stack import wait_until_ready

# The Kaggle tickets ship with the project (data/reference/README.md); the other sets are CC BY-NC
# and stay in ../shared/data (never committed; GitHub does not have them).
KAGGLE_CSV = PROJECT_ROOT / "data" / "reference" / "kaggle_it_tickets.csv.xz"
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
SUPPORT_EN_CSV = SHARED_DATA / "customer-support-tickets-en" / "aa_dataset-tickets-en-only.csv"


def use_home(monkeypatch: pytest.MonkeyPatch, home: Path, tracking_uri: str | None = None) -> None:
    """Point the settings (and so MLflow) at ``home``; a tracking URI overrides the local store."""
    monkeypatch.setenv("CALLCENTERAI_HOME", str(home))
    if tracking_uri:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    else:
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def isolated_mlflow(tmp_path, monkeypatch):
    """Every test gets its own MLflow store, never the project's."""
    use_home(monkeypatch, tmp_path / "home")
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def sample_csv(tmp_path_factory) -> Path:
    return write_sample(tmp_path_factory.mktemp("sample") / "tickets.csv", n=1200)


@pytest.fixture
def params() -> Params:
    return Params()


@pytest.fixture
def prepared(tmp_path, sample_csv, params) -> Layout:
    layout = Layout(tmp_path / "work")
    stage_prepare(sample_csv, layout, params)
    return layout


@pytest.fixture
def trained(prepared, params):
    """A TF-IDF model trained on the sample and registered (staging) in the test's store."""
    return prepared, stage_train("tfidf", prepared, params)


@pytest.fixture(scope="session")
def tiny_distilbert(tmp_path_factory):
    """A randomly initialised small DistilBERT with a WordPiece tokenizer trained on the sample."""
    pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import DistilBertConfig, DistilBertModel, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("tiny-distilbert")
    texts = load_tickets(write_sample(root / "s.csv", n=600), ["Document"], "Topic_group")[0]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(
        texts["text"], trainers.WordPieceTrainer(vocab_size=2000, special_tokens=specials)
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(root / "model")
    config = DistilBertConfig(
        vocab_size=tokenizer.get_vocab_size(), dim=32, n_layers=2, n_heads=2, hidden_dim=64
    )
    DistilBertModel(config).save_pretrained(root / "model")
    return str(root / "model")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` (sqlite store, proxied artifacts) on a loopback port."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = (root / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination", str(root / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/health", timeout=90, process=process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


PROMETHEUS = shutil.which("prometheus")
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None and not os.environ.get("CI"),
    reason="prometheus is not installed (apt-get install prometheus)",
)


class Server:
    """A process started by a test, stopped (and its log kept) when the test ends."""

    def __init__(self, command: list[str], log_path: Path, env: dict | None = None):
        self.log_path = log_path
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, env=env or dict(os.environ)
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()


def start_service(kind: str, port: int, tmp_path: Path, *args: str, env: dict | None = None):
    server = Server(
        [sys.executable, "-m", "callcenterai", "serve", kind, "--port", str(port), *args],
        tmp_path / f"{kind}-{port}.log",
        env=env,
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/ready", timeout=120, process=server.process)
    except (RuntimeError, TimeoutError):
        server.stop()
        raise AssertionError(server.output()[-3000:]) from None
    return server


def start_prometheus(targets: dict[str, int], tmp_path: Path) -> tuple[Server, str]:
    """A real Prometheus scraping ``targets`` (job name -> loopback port) every second."""
    import yaml

    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{target}"]}]}
            for job, target in targets.items()
        ],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    server = Server(
        [
            PROMETHEUS or "prometheus",
            f"--config.file={config_path}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        tmp_path / "prometheus.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/-/ready", timeout=60, process=server.process)
    except (RuntimeError, TimeoutError):
        server.stop()
        raise AssertionError(server.output()[-3000:]) from None
    return server, url


def prometheus_query(url: str, query: str) -> list[dict]:
    import json
    import urllib.parse

    request = f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(request, timeout=5) as response:  # nosec B310 - loopback
        return json.loads(response.read())["data"]["result"]


def wait_for_series(url: str, query: str, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = prometheus_query(url, query)
        if result:
            return result
        time.sleep(0.5)
    raise TimeoutError(f"Prometheus has no result for {query}")


@pytest.fixture(scope="session")
def tfidf_dir(tmp_path_factory):
    """A TF-IDF model folder trained on the sample (no MLflow run needed)."""
    root = tmp_path_factory.mktemp("tfidf-model")
    frame, _ = load_tickets(write_sample(root / "s.csv", n=1200), ["Document"], "Topic_group")
    model = TfidfClassifier.train(frame["text"], frame["label"], Params().tfidf)
    return save_model(model, root / "model", {"registered_model_name": "callcenterai-tfidf"})


@pytest.fixture(scope="session")
def tiny_transformer_dir(tiny_distilbert, tmp_path_factory):
    """A serving folder (MLflow pyfunc, ONNX int8) of a tiny DistilBERT fine-tuned on the sample."""
    from callcenterai.config import TransformerParams
    from callcenterai.models.finetune import (
        export_onnx,
        fine_tune,
        quantize_int8,
        write_serving_dir,
    )
    from callcenterai.models.transformer import TransformerClassifier

    root = tmp_path_factory.mktemp("tiny-transformer")
    frame, _ = load_tickets(write_sample(root / "s.csv", n=400), ["Document"], "Topic_group")
    params = TransformerParams(max_length=32, batch_size=16, epochs=2, learning_rate=1e-3)
    result = fine_tune(
        frame["text"][:300], frame["label"][:300], frame["text"][300:], frame["label"][300:],
        params, tiny_distilbert, root / "hf",
    )  # fmt: skip
    onnx = quantize_int8(export_onnx(result.output_dir, root / "fp32.onnx"), root / "int8.onnx")
    serving = write_serving_dir(result.output_dir, onnx, root / "build" / "serving")
    return save_model(TransformerClassifier(serving), root / "model", {})

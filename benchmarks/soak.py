"""A soak with faults: the agent under a steady load while its downstreams fail and come back.

Real processes on loopback: an MLflow server (SQLite store, proxied artifacts) holding a TF-IDF
model and a small transformer at ``@production``; the two model services following that alias
(``callcenterai serve tfidf|transformer``); the agent (``callcenterai serve agent``, ticket store
on SQLite). A few client threads post real-looking tickets (``data/eval/multilingual_tickets.csv``:
English, French, Arabic; a share with ``force_model``) to ``/classify`` at a steady rate, each
request with a client timeout: a request that exceeds it is a hang. Meanwhile, in cycles that
alternate the model service they hit (TF-IDF first):

1. ``SIGKILL`` the model service; start it again after ``kill_down_s`` (longer than the breaker's
   pause, so a half-open trial finds it still down);
2. ``SIGSTOP`` the other model service for ``freeze_s`` (past its timeout in the agent), then
   ``SIGCONT``: a downstream slowed past the agent's timeout, its socket still accepting;
3. stop MLflow, restart the first model service while MLflow is down, start MLflow again once
   the service answers ``/health`` and at least ``mlflow_down_s`` after the restart: the
   service must start, say it has no model (``/ready`` 503), then load it and serve.

Per phase: answers by status (200, 503 with and without ``Retry-After``, 500, other, client
timeouts, connection errors), latency of the 200s (p50 / p95 / p99), the agent's downstream
errors and fallbacks (from its ``/metrics``); the breaker transitions (``callcenterai_circuit_open``
sampled from ``/metrics``, and the breaker states of ``/health``); per fault, when the breaker
opened and closed and when the service answered again; the RSS of each process at the start and
at the end of the load. The agent's model calls use the production settings (timeouts, breaker).

Run ``python -m benchmarks.soak [--minutes 10]`` (after ``make venv``; it trains its own small
models in about a minute and needs no ``dvc repro``). ``--minutes`` is the load's duration; at
least one fault cycle runs whatever its value. Writes ``reports/benchmarks/soak.json`` and
re-renders ``reports/benchmark.md``. ``tests/services/test_soak.py`` runs a short version (one
cycle, short timeouts and breaker pause) and asserts what the report shows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pandas as pd
import psutil
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.agent import percentiles
from benchmarks.first_start import free_port
from benchmarks.report import REPORT_DIR, render_report
from benchmarks.services import Sampler
from callcenterai.config import MODEL_NAMES, PRODUCTION_ALIAS, PROJECT_ROOT, Settings
from callcenterai.stack import wait_until_ready

KINDS = ("tfidf", "transformer")
TICKETS = PROJECT_ROOT / "data" / "eval" / "multilingual_tickets.csv"
OUTCOMES = (
    "200",
    "503_retry_after",
    "503_no_retry_after",
    "500",
    "other",
    "client_timeout",
    "connection_error",
)


def _default(name: str):
    """A setting's default in code (not whatever this shell's environment says)."""
    return Settings.model_fields[name].default


@dataclass
class SoakConfig:
    """What the soak does; the defaults are the agent's production settings and the benchmark's
    schedule (about three minutes per fault cycle)."""

    minutes: float = 10.0
    clients: int = 4
    rate_per_client: float = 4.0  # requests per second each client sends (paced, not bursts)
    forced_share: float = 0.2  # half of it forces TF-IDF, half the transformer
    tfidf_timeout_s: float = _default("tfidf_timeout_s")
    transformer_timeout_s: float = _default("transformer_timeout_s")
    breaker_failures: int = _default("breaker_failures")
    breaker_reset_s: float = _default("breaker_reset_s")
    client_timeout_s: float | None = None  # default: both downstream timeouts + 5 s
    baseline_s: float = 30.0
    kill_down_s: float | None = None  # default: the breaker's pause + 5 s
    freeze_s: float = 20.0
    mlflow_down_s: float = 30.0
    settle_s: float = 15.0  # steady load after each recovery, before the next fault
    recovery_timeout_s: float = 180.0
    cycles: int | None = None  # default: as many as fit in ``minutes`` (at least one)
    seed: int = 0

    @property
    def client_timeout(self) -> float:
        if self.client_timeout_s is not None:
            return self.client_timeout_s
        return self.tfidf_timeout_s + self.transformer_timeout_s + 5.0

    @property
    def kill_down(self) -> float:
        return self.kill_down_s if self.kill_down_s is not None else self.breaker_reset_s + 5.0


# -- processes ------------------------------------------------------------------------------------


class Proc:
    """One server process in its own process group, restartable; its output goes to a log."""

    def __init__(self, name: str, command: list[str], env: dict, log: Path, ready_url: str):
        self.name, self.command, self.env, self.log, self.ready_url = (
            name, command, env, log, ready_url,
        )  # fmt: skip
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.frozen = False

    def start(self) -> None:
        with self.log.open("a") as log:
            log.write(f"\n--- start {self.starts + 1} ---\n")
            log.flush()
            self.process = subprocess.Popen(  # nosec B603 - fixed argv, no shell
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        self.starts += 1

    def wait_ready(self, timeout: float = 300) -> None:
        try:
            wait_until_ready(self.ready_url, timeout, self.process, self.name)
        except Exception as exc:  # noqa: BLE001 - re-raised with the log's end
            raise RuntimeError(f"{exc}\n{self.tail()}") from None

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: int) -> None:
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass
        if signum == signal.SIGSTOP:
            self.frozen = True
        elif signum == signal.SIGCONT:
            self.frozen = False

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` and for whatever is left of its group."""
        if self.process is None:
            return
        if self.process.poll() is None:
            if self.frozen:
                self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def rss_mb(self) -> float | None:
        """Resident memory of the process and its children (MLflow's server has workers)."""
        try:
            process = psutil.Process(self.pid)
            tree = [process, *process.children(recursive=True)]
            return round(sum(p.memory_info().rss for p in tree) / 2**20, 1)
        except psutil.Error:
            return None

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def mlflow_command(folder: Path, port: int) -> list[str]:
    """``mlflow server`` as the local stack starts it (callcenterai.stack)."""
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip


def serve_command(kind: str, port: int) -> list[str]:
    return [sys.executable, "-m", "callcenterai", "serve", kind, "--port", str(port)]


# -- models ---------------------------------------------------------------------------------------


def build_models(folder: Path) -> dict[str, Path]:
    """A TF-IDF model and a small transformer, trained on the built-in sample in about a minute.

    The transformer is a 2-layer DistilBERT (width 32) with a WordPiece tokenizer trained on the
    sample, fine-tuned for 2 epochs, exported to ONNX int8 and served by the real transformer
    service: the same recipe as the tests' ``tiny_transformer_dir``. Its answers are not good;
    the soak measures availability, not accuracy.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import DistilBertConfig, DistilBertModel, PreTrainedTokenizerFast

    from callcenterai.config import Params, TransformerParams
    from callcenterai.data import load_tickets
    from callcenterai.models.finetune import (
        export_onnx,
        fine_tune,
        quantize_int8,
        write_serving_dir,
    )
    from callcenterai.models.store import save_model
    from callcenterai.models.tfidf import TfidfClassifier
    from callcenterai.models.transformer import TransformerClassifier
    from callcenterai.sample import write_sample

    frame, _ = load_tickets(
        write_sample(folder / "sample.csv", n=1200), ["Document"], "Topic_group"
    )
    tfidf = TfidfClassifier.train(frame["text"], frame["label"], Params().tfidf)
    paths = {"tfidf": save_model(tfidf, folder / "tfidf", {})}

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(
        frame["text"], trainers.WordPieceTrainer(vocab_size=2000, special_tokens=specials)
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    base = folder / "base"
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]",
    ).save_pretrained(base)  # fmt: skip
    config = DistilBertConfig(
        vocab_size=tokenizer.get_vocab_size(), dim=32, n_layers=2, n_heads=2, hidden_dim=64
    )
    DistilBertModel(config).save_pretrained(base)
    texts, labels = frame["text"][:400], frame["label"][:400]
    params = TransformerParams(max_length=32, batch_size=16, epochs=2, learning_rate=1e-3)
    result = fine_tune(
        texts[:300], labels[:300], texts[300:], labels[300:], params, str(base), folder / "hf"
    )
    onnx = quantize_int8(export_onnx(result.output_dir, folder / "fp32.onnx"), folder / "int8.onnx")
    serving = write_serving_dir(result.output_dir, onnx, folder / "serving")
    paths["transformer"] = save_model(TransformerClassifier(serving), folder / "transformer", {})
    return paths


@contextmanager
def tracking_at(uri: str):
    """MLflow's tracking and registry URIs set to ``uri`` in this process, restored afterwards."""
    import mlflow

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])


def register_models(tracking_uri: str, folders: dict[str, Path]) -> dict[str, str]:
    """Upload each model folder (an MLflow model, as ``save_model`` writes it) as a run's
    artifacts, register it as a new version and give it the production alias; the versions.
    (Faster than ``log_model``, which validates the model again: the files are the same.)"""
    import mlflow
    from mlflow.tracking import MlflowClient

    from callcenterai.registry import move_production

    versions = {}
    with tracking_at(tracking_uri):
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        # An explicit experiment: the fluent API's active one may be left by an earlier caller
        # in this process and not exist on this fresh server.
        experiment = client.get_experiment_by_name("soak")
        experiment_id = experiment.experiment_id if experiment else client.create_experiment("soak")
        for kind, folder in folders.items():
            run = client.create_run(experiment_id, run_name=f"soak-{kind}")
            client.log_artifacts(run.info.run_id, str(folder), "model")
            client.set_terminated(run.info.run_id)
            registered = mlflow.register_model(f"runs:/{run.info.run_id}/model", MODEL_NAMES[kind])
            versions[kind] = str(registered.version)
            move_production(MODEL_NAMES[kind], versions[kind], PRODUCTION_ALIAS, client)
    return versions


# -- the load -------------------------------------------------------------------------------------


@dataclass
class Record:
    phase: int
    started: float  # seconds since the load started
    latency: float
    outcome: str
    model: str | None  # the model that answered (model_used), for a 200
    forced: str | None
    retry_after: int | None = None  # a 503's Retry-After, in seconds


def outcome_of(response: httpx.Response) -> str:
    if response.status_code == 200:
        return "200"
    if response.status_code == 503:
        retry_after = response.headers.get("retry-after", "")
        return "503_retry_after" if retry_after.isdigit() else "503_no_retry_after"
    if response.status_code == 500:
        return "500"
    return "other"


def load_tickets_for_load(seed: int) -> list[str]:
    texts = pd.read_csv(TICKETS, dtype=str, keep_default_na=False)["text"].tolist()
    random.Random(seed).shuffle(texts)
    return texts


class Load:
    """``clients`` threads, each posting one ticket every ``1 / rate`` seconds (if the previous
    answer came later, the next one goes at once; no bursts to catch up)."""

    def __init__(self, url: str, config: SoakConfig, texts: list[str], phase_of):
        self.url, self.config, self.texts, self.phase_of = url, config, texts, phase_of
        self.records: list[Record] = []
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.started = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        for index in range(self.config.clients):
            thread = threading.Thread(target=self._client, args=(index,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=self.config.client_timeout + 10)

    def now(self) -> float:
        return time.monotonic() - self.started

    def _client(self, index: int) -> None:
        rng = random.Random(self.config.seed * 1000 + index)
        interval = 1.0 / self.config.rate_per_client
        next_at = time.monotonic() + rng.random() * interval  # clients out of step
        with httpx.Client(base_url=self.url, timeout=self.config.client_timeout) as client:
            while not self.stopping.is_set():
                pause = next_at - time.monotonic()
                if pause > 0 and self.stopping.wait(pause):
                    break
                next_at = max(next_at + interval, time.monotonic())
                body = {"text": rng.choice(self.texts)}
                draw = rng.random()
                forced = None
                if draw < self.config.forced_share:
                    forced = KINDS[0] if draw < self.config.forced_share / 2 else KINDS[1]
                    body["force_model"] = forced
                phase, started = self.phase_of(), self.now()
                model = retry_after = None
                try:
                    response = client.post("/classify", json=body)
                    outcome = outcome_of(response)
                    if outcome == "200":
                        model = response.json().get("model_used")
                    elif outcome == "503_retry_after":
                        retry_after = int(response.headers["retry-after"])
                except httpx.TimeoutException:
                    outcome = "client_timeout"
                except httpx.HTTPError:
                    outcome = "connection_error"
                except ValueError:  # a 200 whose body is not the answer
                    outcome = "other"
                self.records.append(
                    Record(
                        phase, started, self.now() - started, outcome, model, forced, retry_after
                    )
                )


# -- watching the agent ---------------------------------------------------------------------------


def scrape(url: str) -> dict[str, dict[tuple, float]]:
    """The agent's /metrics: the samples of each metric, by their sorted label items."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def breaker_gauges(metrics: dict) -> dict[str, int]:
    values = metrics.get("callcenterai_circuit_open", {})
    return {
        kind: int(values.get((("downstream", kind),), 0)) for kind in KINDS
    }  # no sample yet: never called, so never opened


class Watcher:
    """Samples the agent's breaker gauge (/metrics) and breaker states (/health) in the
    background; keeps every change, with its time."""

    def __init__(self, url: str, clock, interval: float = 0.25):
        self.url, self.clock, self.interval = url, clock, interval
        self.gauge = dict.fromkeys(KINDS, 0)
        self.state = dict.fromkeys(KINDS, "closed")
        self.gauge_changes: list[dict] = []
        self.state_changes: list[dict] = []
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._loop, args=(self._metrics,), daemon=True),
            threading.Thread(target=self._loop, args=(self._health,), daemon=True),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _loop(self, sample) -> None:
        while not self.stopping.wait(self.interval):
            try:
                sample()
            except (httpx.HTTPError, ValueError, KeyError):
                pass  # the agent is never stopped during the soak: a slow answer, skipped

    def _metrics(self) -> None:
        for kind, value in breaker_gauges(scrape(self.url)).items():
            if value != self.gauge[kind]:
                self.gauge[kind] = value
                self.gauge_changes.append(
                    {"t_s": round(self.clock(), 2), "downstream": kind, "open": value}
                )

    def _health(self) -> None:
        downstream = httpx.get(f"{self.url}/health", timeout=5).json()["downstream"]
        for kind in KINDS:
            state = downstream[kind]["breaker"]
            if state != self.state[kind]:
                self.state[kind] = state
                self.state_changes.append(
                    {"t_s": round(self.clock(), 2), "downstream": kind, "state": state}
                )


def counters(metrics: dict) -> dict[str, dict[str, float]]:
    """Downstream errors (``downstream/reason``) and fallbacks (``failed->answered/reason``)."""
    errors = {
        f"{dict(labels)['downstream']}/{dict(labels)['reason']}": value
        for labels, value in metrics.get("callcenterai_downstream_errors_total", {}).items()
    }
    fallbacks = {
        f"{dict(labels)['failed']}->{dict(labels)['answered']}/{dict(labels)['reason']}": value
        for labels, value in metrics.get("callcenterai_fallbacks_total", {}).items()
    }
    return {"downstream_errors": errors, "fallbacks": fallbacks}


def difference(after: dict[str, float], before: dict[str, float]) -> dict[str, int]:
    changed = {key: int(value - before.get(key, 0)) for key, value in after.items()}
    return {key: value for key, value in sorted(changed.items()) if value}


# -- the soak -------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    fault: str | None
    target: str | None
    start_s: float
    end_s: float | None = None
    counters_before: dict = field(default_factory=dict)
    counters_after: dict = field(default_factory=dict)


class Soak:
    def __init__(self, config: SoakConfig, models: dict[str, Path], workdir: Path):
        self.config, self.models, self.workdir = config, models, workdir
        self.ports = {name: free_port() for name in ("mlflow", "agent", *KINDS)}
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        logs = workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTERAI_")}
        base.pop("MLFLOW_TRACKING_URI", None)
        env = {
            **base,
            "MLFLOW_TRACKING_URI": self.urls["mlflow"],
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "CALLCENTERAI_HOME": str(workdir),
            "CALLCENTERAI_LOG_LEVEL": "INFO",
        }
        agent_env = {
            **env,
            "CALLCENTERAI_TFIDF_URL": self.urls["tfidf"],
            "CALLCENTERAI_TRANSFORMER_URL": self.urls["transformer"],
            "CALLCENTERAI_TFIDF_TIMEOUT_S": str(config.tfidf_timeout_s),
            "CALLCENTERAI_TRANSFORMER_TIMEOUT_S": str(config.transformer_timeout_s),
            "CALLCENTERAI_BREAKER_FAILURES": str(config.breaker_failures),
            "CALLCENTERAI_BREAKER_RESET_S": str(config.breaker_reset_s),
            "CALLCENTERAI_STORE_URL": f"sqlite:///{workdir / 'tickets.db'}",
        }
        self.mlflow = Proc(
            "mlflow", mlflow_command(workdir / "mlflow", self.ports["mlflow"]),
            {**env, "PYTHONUNBUFFERED": "1"}, logs / "mlflow.log", self.urls["mlflow"] + "/health",
        )  # fmt: skip
        self.services = {
            kind: Proc(
                kind, serve_command(kind, self.ports[kind]), env, logs / f"{kind}.log",
                self.urls[kind] + "/ready",
            )  # fmt: skip
            for kind in KINDS
        }
        self.agent = Proc(
            "agent", serve_command("agent", self.ports["agent"]), agent_env, logs / "agent.log",
            self.urls["agent"] + "/ready",
        )  # fmt: skip
        self.phases: list[Phase] = []
        self.faults: list[dict] = []
        self.load = Load(self.urls["agent"], config, load_tickets_for_load(config.seed), self.phase)
        self.watcher = Watcher(self.urls["agent"], self.load.now)
        self.rss: dict[str, dict] = {}

    @property
    def processes(self) -> list[Proc]:
        return [self.agent, *self.services.values(), self.mlflow]

    def phase(self) -> int:
        return max(0, len(self.phases) - 1)  # a request just before "baseline" is marked: in it

    def mark(self, name: str, fault: str | None = None, target: str | None = None) -> None:
        now, snapshot = self.load.now(), counters(scrape(self.urls["agent"]))
        if self.phases:
            self.phases[-1].end_s, self.phases[-1].counters_after = now, snapshot
        self.phases.append(Phase(name, fault, target, now, counters_before=snapshot))
        print(f"[{now:6.1f} s] {name}", flush=True)

    def sleep_until(self, moment: float) -> None:
        time.sleep(max(0.0, moment - self.load.now()))

    # -- start and stop -------------------------------------------------------------------------

    def start(self) -> dict[str, str]:
        """MLflow and the agent (which needs no registry) at once; once MLflow answers, the
        model services (they wait for a production version) while the models are registered."""
        self.mlflow.start()
        self.agent.start()
        self.mlflow.wait_ready(180)
        for proc in self.services.values():
            proc.start()
        versions = register_models(self.urls["mlflow"], self.models)
        for proc in (*self.services.values(), self.agent):
            proc.wait_ready()
        deadline = time.monotonic() + 120
        while True:  # until the agent sees both services ready
            health = httpx.get(self.urls["agent"] + "/health", timeout=5).json()
            if health["status"] == "ok":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the agent does not see both model services ready: {health}")
            time.sleep(0.3)
        texts = load_tickets_for_load(self.config.seed + 1)[:10]
        with httpx.Client(base_url=self.urls["agent"], timeout=30) as client:  # warm-up
            for text in texts:
                client.post("/classify", json={"text": text})
        return versions

    def stop(self) -> None:
        for proc in self.processes:
            try:
                proc.stop()
            except Exception as exc:  # noqa: BLE001 - stop the others anyway
                print(f"could not stop {proc.name}: {exc}", file=sys.stderr)

    # -- faults ---------------------------------------------------------------------------------

    def breaker_times(self, kind: str, since: float) -> tuple[float | None, float | None]:
        """When the breaker of ``kind`` was first seen open after ``since``, and closed after
        that (from /health's states, every 0.25 s)."""
        opened = closed = None
        for change in list(self.watcher.state_changes):
            if change["downstream"] != kind or change["t_s"] < since:
                continue
            if opened is None and change["state"] == "open":
                opened = change["t_s"]
            elif opened is not None and change["state"] == "closed":
                closed = change["t_s"]
                break
        return opened, closed

    def answered_by(self, kind: str, since: float) -> float | None:
        for record in list(self.load.records):
            if record.started >= since and record.outcome == "200" and record.model == kind:
                return record.started + record.latency
        return None

    def recover(self, fault: dict) -> None:
        """Wait until the target's breaker is closed and the target answered through the agent
        after the fault ended; then ``settle_s`` of steady load."""
        kind, since = fault["target"], fault["restored_s"]
        deadline = time.monotonic() + self.config.recovery_timeout_s
        while time.monotonic() < deadline:
            answered = self.answered_by(kind, since)
            if answered is not None and self.watcher.state[kind] == "closed":
                break
            time.sleep(0.25)
        answered = self.answered_by(kind, since)
        opened, closed = self.breaker_times(kind, fault["injected_s"])
        fault.update(
            breaker_opened_s=opened,
            breaker_closed_s=closed,
            answered_again_s=answered,
            recovered=answered is not None and self.watcher.state[kind] == "closed",
        )
        self.sleep_until(self.load.now() + self.config.settle_s)

    def sigkill(self, cycle: int, kind: str) -> None:
        proc = self.services[kind]
        self.mark(f"{cycle}. {kind} SIGKILLed, restarted", "sigkill", kind)
        fault = {"cycle": cycle, "fault": "sigkill", "target": kind, "injected_s": self.load.now()}
        proc.kill()
        self.sleep_until(fault["injected_s"] + self.config.kill_down)
        fault["restarted_s"] = self.load.now()
        proc.start()
        proc.wait_ready()
        fault["restored_s"] = self.load.now()
        self.mark(f"{cycle}. recovery after SIGKILL of {kind}")
        self.recover(fault)
        self.faults.append(fault)

    def freeze(self, cycle: int, kind: str) -> None:
        proc = self.services[kind]
        self.mark(f"{cycle}. {kind} frozen (SIGSTOP {self.config.freeze_s:g} s)", "sigstop", kind)
        fault = {"cycle": cycle, "fault": "sigstop", "target": kind, "injected_s": self.load.now()}
        proc.signal(signal.SIGSTOP)
        self.sleep_until(fault["injected_s"] + self.config.freeze_s)
        proc.signal(signal.SIGCONT)
        fault["restored_s"] = self.load.now()
        self.mark(f"{cycle}. recovery after SIGSTOP of {kind}")
        self.recover(fault)
        self.faults.append(fault)

    def mlflow_down(self, cycle: int, kind: str) -> None:
        """Stop MLflow, restart ``kind`` while it is down, start MLflow again."""
        proc = self.services[kind]
        self.mark(f"{cycle}. MLflow down, {kind} restarted meanwhile", "mlflow_down", kind)
        fault = {
            "cycle": cycle, "fault": "mlflow_down", "target": kind, "injected_s": self.load.now(),
        }  # fmt: skip
        began = self.load.now()
        self.mlflow.stop(timeout=5)  # then SIGKILL: its graceful stop can take 20 s
        fault["mlflow_stop_s"] = self.load.now() - began
        began = self.load.now()
        proc.stop()
        fault["service_stop_s"] = self.load.now() - began
        proc.start()
        restarted = fault["restarted_s"] = self.load.now()
        # MLflow stays down for mlflow_down_s after the restart, and until the service
        # answers /health (or recovery_timeout_s has passed: it did not start).
        health = proc.ready_url.removesuffix("/ready") + "/health"
        up_at = None
        while self.load.now() < restarted + self.config.recovery_timeout_s and (
            up_at is None or self.load.now() < restarted + self.config.mlflow_down_s
        ):
            if up_at is None:
                try:
                    status = httpx.get(health, timeout=2).json().get("status")
                    up_at = self.load.now()
                    fault["health_while_mlflow_down"] = status
                    fault["ready_status_while_mlflow_down"] = httpx.get(
                        proc.ready_url, timeout=2
                    ).status_code
                except httpx.HTTPError:
                    pass
            time.sleep(0.25)
        fault["service_up_while_mlflow_down"] = up_at is not None
        fault["seconds_to_health_while_mlflow_down"] = None if up_at is None else up_at - restarted
        self.mlflow.start()
        self.mlflow.wait_ready(180)
        fault["mlflow_back_s"] = self.load.now()
        fault["mlflow_down_for_s"] = fault["mlflow_back_s"] - fault["injected_s"]
        proc.wait_ready()
        fault["restored_s"] = self.load.now()
        fault["seconds_from_mlflow_back_to_ready"] = fault["restored_s"] - fault["mlflow_back_s"]
        self.mark(f"{cycle}. recovery after MLflow came back ({kind} restarted)")
        self.recover(fault)
        self.faults.append(fault)

    def cycle(self, number: int) -> None:
        first = KINDS[(number - 1) % 2]
        other = KINDS[number % 2]
        self.sigkill(number, first)
        self.freeze(number, other)
        self.mlflow_down(number, first)

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> dict:
        total = self.config.minutes * 60
        try:
            versions = self.start()
            rss_start = {proc.name: proc.rss_mb() for proc in self.processes}
            sampler = Sampler(self.agent.pid)
            sampler.start()
            self.load.start()
            self.watcher.start()
            self.mark("baseline")
            self.sleep_until(self.config.baseline_s)
            number, lengths = 0, []
            while True:
                number += 1
                began = self.load.now()
                self.cycle(number)
                lengths.append(self.load.now() - began)
                if self.config.cycles is not None:
                    if number >= self.config.cycles:
                        break
                elif self.load.now() + max(lengths) > total:
                    break
            self.mark("steady")
            self.sleep_until(max(total, self.load.now() + self.config.settle_s))
            self.load.stop()
            self.watcher.stop()
            self.mark("end")
            agent_load = sampler.stop()
            rss_end = {proc.name: proc.rss_mb() for proc in self.processes}
        except BaseException:
            self.load.stopping.set()
            self.watcher.stopping.set()
            for proc in self.processes:
                print(f"--- {proc.name} log ---\n{proc.tail(1500)}", file=sys.stderr)
            raise
        finally:
            self.stop()
        self.phases.pop()  # "end": only closes the last phase
        self.rss = {
            proc.name: {
                "start_mb": rss_start[proc.name],
                "end_mb": rss_end[proc.name],
                "starts": proc.starts,
            }
            for proc in self.processes
        }
        self.rss["agent"]["peak_mb"] = round(agent_load["peak_rss_mb"], 1)
        self.rss["agent"]["mean_cpu_percent"] = round(agent_load["mean_cpu_percent"], 1)
        return self.results(versions)

    def results(self, versions: dict[str, str]) -> dict:
        phases = [summarise(phase, [r for r in self.load.records if r.phase == index])
                  for index, phase in enumerate(self.phases)]  # fmt: skip
        totals = summarise(Phase("all", None, None, 0.0, self.phases[-1].end_s), self.load.records)
        totals.pop("downstream_errors")
        totals.pop("fallbacks")
        result = {
            "config": {**asdict(self.config), "client_timeout_s": self.config.client_timeout,
                       "kill_down_s": self.config.kill_down},  # fmt: skip
            "model_versions": versions,
            "cycles": max(fault["cycle"] for fault in self.faults),
            "load_seconds": round(self.phases[-1].end_s, 1),
            "phases": phases,
            "totals": totals,
            "faults": [rounded(fault) for fault in self.faults],
            "breaker_gauge_changes": self.watcher.gauge_changes,
            "breaker_state_changes": self.watcher.state_changes,
            "rss_mb": self.rss,
        }
        result["checks"] = checks(result)
        return result


def rounded(values: dict) -> dict:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in values.items()}


def summarise(phase: Phase, records: list[Record]) -> dict:
    seconds = (phase.end_s or 0.0) - phase.start_s
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for record in records:
        outcomes[record.outcome] += 1
    ok = [r.latency for r in records if r.outcome == "200"]
    answered = [
        r.latency for r in records if r.outcome not in ("client_timeout", "connection_error")
    ]
    latency = percentiles(ok) if ok else {"p50_ms": None, "p95_ms": None, "n": 0}
    if ok:
        ordered = sorted(ok)
        latency["p99_ms"] = round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 1)
        latency["p50_ms"], latency["p95_ms"] = round(latency["p50_ms"], 1), round(
            latency["p95_ms"], 1
        )
    return {
        "name": phase.name,
        "fault": phase.fault,
        "target": phase.target,
        "start_s": round(phase.start_s, 1),
        "seconds": round(seconds, 1),
        "requests": len(records),
        "requests_per_second": round(len(records) / seconds, 1) if seconds > 0 else None,
        "outcomes": outcomes,
        "latency_200": latency,
        "max_ms_any_answer": round(max(answered) * 1000, 1) if answered else None,
        "retry_after_s": (
            [min(waits), max(waits)]
            if (waits := [r.retry_after for r in records if r.retry_after is not None])
            else None
        ),
        "answered_by": {
            kind: sum(r.outcome == "200" and r.model == kind for r in records) for kind in KINDS
        },
        "downstream_errors": difference(
            phase.counters_after.get("downstream_errors", {}),
            phase.counters_before.get("downstream_errors", {}),
        ),
        "fallbacks": difference(
            phase.counters_after.get("fallbacks", {}), phase.counters_before.get("fallbacks", {})
        ),
    }


def checks(result: dict) -> dict:
    """What the issue asks, as yes/no (the test asserts these) and the agent's memory figures."""
    outcomes = result["totals"]["outcomes"]
    faults = result["faults"]
    killed = [f for f in faults if f["fault"] == "sigkill"]
    agent = result["rss_mb"]["agent"]
    return {
        "no_500": outcomes["500"] == 0,
        "no_client_timeout": outcomes["client_timeout"] == 0,
        "no_connection_error": outcomes["connection_error"] == 0,
        "every_non_200_is_503_with_retry_after": all(
            outcomes[o] == 0 for o in OUTCOMES if o not in ("200", "503_retry_after")
        ),
        "breaker_opened_and_closed_for_every_killed_service": all(
            f["breaker_opened_s"] is not None and f["breaker_closed_s"] is not None for f in killed
        ),
        "recovered_after_every_fault": all(f["recovered"] for f in faults),
        "services_started_while_mlflow_down": all(
            f["service_up_while_mlflow_down"] for f in faults if f["fault"] == "mlflow_down"
        ),
        "agent_rss_growth_mb": (
            None
            if agent["start_mb"] is None or agent["end_mb"] is None
            else round(agent["end_mb"] - agent["start_mb"], 1)
        ),
    }


def run_soak(config: SoakConfig, models: dict[str, Path] | None, workdir: Path) -> dict:
    """Build the models if none are given, run the soak in ``workdir``; the results."""
    if models is None:
        started = time.perf_counter()
        models = build_models(workdir / "models")
        print(f"models built in {time.perf_counter() - started:.0f} s", flush=True)
    return Soak(config, models, workdir).run()


def print_summary(result: dict) -> None:
    print(f"{'phase':58} {'s':>6} {'req':>5} {'200':>5} {'503+RA':>6} {'503-RA':>6} "
          f"{'500':>4} {'other':>5} {'hang':>4} {'p50':>7} {'p95':>7} {'p99':>7}")  # fmt: skip
    for row in [*result["phases"], {"name": "all", **result["totals"]}]:
        o, lat = row["outcomes"], row["latency_200"]
        print(
            f"{row['name'][:58]:58} {row['seconds']:6.1f} {row['requests']:5d} {o['200']:5d} "
            f"{o['503_retry_after']:6d} {o['503_no_retry_after']:6d} {o['500']:4d} "
            f"{o['other'] + o['connection_error']:5d} {o['client_timeout']:4d} "
            f"{lat['p50_ms'] or 0:7.1f} {lat['p95_ms'] or 0:7.1f} {lat.get('p99_ms') or 0:7.1f}"
        )
    for fault in result["faults"]:
        print(json.dumps(fault))
    print("rss", json.dumps(result["rss_mb"]))
    print("checks", json.dumps(result["checks"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="Duration of the load.")
    parser.add_argument("--clients", type=int, default=SoakConfig.clients)
    parser.add_argument("--rate", type=float, default=SoakConfig.rate_per_client,
                        help="Requests per second per client.")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=None, help="Keep logs and models here.")
    args = parser.parse_args()
    config = SoakConfig(minutes=args.minutes, clients=args.clients, rate_per_client=args.rate)
    command = f"python -m benchmarks.soak --minutes {args.minutes:g}"
    if (args.clients, args.rate) != (SoakConfig.clients, SoakConfig.rate_per_client):
        command += f" --clients {args.clients} --rate {args.rate:g}"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir.resolve() if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = run_soak(config, None, workdir)
    result = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "machine": {"cpus": os.cpu_count()},
        **result,
    }
    print_summary(result)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"report: {render_report()}")


if __name__ == "__main__":
    main()

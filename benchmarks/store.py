"""The ticket store's cost on ``/classify`` and the inserts it sustains under the agent's load.

No trained model is needed: a TF-IDF model is trained on the shipped Kaggle tickets into
``build/bench-store/tfidf`` (reused when it is already there) and served with ``callcenterai
serve tfidf``. The transformer is not used: the agents' ``--transformer-url`` points at a port
where nothing listens, ``CALLCENTERAI_ROUTE_TFIDF_MIN_CONFIDENCE=0`` keeps TF-IDF's answer for
every ticket, and tickets whose detected language would send them to the transformer first are
left out (counted); every answer is checked to come from TF-IDF alone, and the agents'
``/metrics`` to show no transformer call.

1. Overhead over loopback HTTP: two agents against the same TF-IDF service, one recording every
   ticket in a SQLite file, one with ``CALLCENTERAI_STORE_ENABLED=false``; one client sends the
   same tickets to both, interleaved (A/B, then B/A), after a warm-up: the median-length Kaggle
   test ticket repeated, then a spread of Kaggle test tickets and natural tickets (en/fr/ar).
   In process: the request-side work alone (building the row + ``TicketWriter.submit``, i.e.
   ``Agent._record``) on the median ticket, while the writer thread writes.
2. Sustained inserts: the store-on agent under concurrent load (async httpx clients, loopback,
   bounded in time and count): requests/s, rows stored/s, dropped and failed rows, backlog at the
   end, and every answered ticket found in the store after a short flush. The store's raw
   capacity: ``TicketStore.add`` of batches of 256 rows, for SQLite and, where it is installed,
   PostgreSQL (a throw-away server, default durability settings).
3. Where PostgreSQL is installed, point 2 again with the agent writing to it.

Run with ``python -m benchmarks.store`` (``--quick`` for a smoke run); writes
``reports/benchmarks/store.json`` and re-renders ``reports/benchmark.md``. Client, agents,
TF-IDF service and database share this machine's CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import platform
import pwd
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text

from benchmarks.agent import percentiles
from benchmarks.report import REPORT_DIR, render_report
from benchmarks.services import local_env
from callcenterai.agent.decision import decide
from callcenterai.agent.routing import TFIDF, needs_transformer, plan_route
from callcenterai.agent.ticket import Scrubbed
from callcenterai.config import PROJECT_ROOT, RoutingSettings, Settings, load_params
from callcenterai.data import load_tickets, split_tickets
from callcenterai.services.agent_service import Agent
from callcenterai.services.metrics import AgentMetrics
from callcenterai.services.schemas import Prediction
from callcenterai.tickets.schema import Ticket
from callcenterai.tickets.store import TicketStore, now

KAGGLE = Path("data/reference/kaggle_it_tickets.csv.xz")
NATURAL = Path("data/natural/tickets.csv")
WORK = Path("build/bench-store")
MODEL = WORK / "tfidf"
TARGET_OVERHEAD_P50_MS = 2.0
BATCH_ROWS = 256
# TF-IDF answers alone; no shadow calls (measured on their own in tests/services/test_shadow.py):
# the store's cost is what is measured here.
ROUTE_ENV = {"CALLCENTERAI_ROUTE_TFIDF_MIN_CONFIDENCE": "0", "CALLCENTERAI_SHADOW_SHARE": "0"}
POLICY = RoutingSettings(tfidf_min_confidence=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- processes ---------------------------------------------------------------------------------


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def serve(
    stack: contextlib.ExitStack, kind: str, port: int, env: dict, logs: Path, *args: str
) -> subprocess.Popen:
    """``callcenterai serve <kind>``, stopped with ``stack``; returned once /ready answers 200.

    Like :func:`benchmarks.services.start`, but the process is registered for stopping before
    the wait, and a process that exits during start-up fails at once with its log's tail.
    """
    log_path = logs / f"{kind}-{port}.log"
    log = stack.enter_context(log_path.open("w"))
    process = subprocess.Popen(
        [sys.executable, "-m", "callcenterai", "--log-level", "WARNING", "serve", kind,
         "--port", str(port), *args],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    stack.callback(stop, process)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{kind} service exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{kind} service did not become ready: {log_path.read_text()[-2000:]}")


def wait_store_up(base: str, timeout: float = 60) -> None:
    """The agent's writer has created the schema (``/health`` store status ok)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{base}/health", timeout=5).json()["store"]["status"] == "ok":
            return
        time.sleep(0.2)
    raise RuntimeError(f"the ticket store of {base} did not come up")


def ensure_model() -> dict:
    """The TF-IDF model folder, trained on the Kaggle tickets unless it is already there."""
    if (MODEL / "MLmodel").exists():
        return {"folder": str(MODEL), "trained_now": False}
    WORK.mkdir(parents=True, exist_ok=True)
    # Its own MLflow store under build/bench-store (CALLCENTERAI_HOME), not the project's.
    env = local_env(CALLCENTERAI_HOME=str((PROJECT_ROOT / WORK).resolve()))
    command = [sys.executable, "-m", "callcenterai", "--log-level", "WARNING", "train", "tfidf",
               "--input", str(KAGGLE), "--output", str(MODEL)]  # fmt: skip
    print("training the TF-IDF model:", " ".join(command[2:]), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, timeout=1800, stdout=subprocess.DEVNULL)
    return {
        "folder": str(MODEL),
        "trained_now": True,
        "train_seconds": round(time.perf_counter() - started, 1),
    }


@contextlib.contextmanager
def postgres_server():
    """A throw-away PostgreSQL server on a loopback port (as ``tests/tickets/conftest.py``, but
    with the default durability settings); yields (SQLAlchemy URL, version) or None when
    PostgreSQL is not installed."""
    found = shutil.which("initdb") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)), None
    )
    if found is None:
        yield None
        return
    bin_dir = Path(found).parent

    def as_postgres(command: list[str]) -> list[str]:
        # initdb and postgres refuse to run as root: as root, run them as the package's user.
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    # Its own folder directly in the temp folder: the postgres user cannot enter root's.
    folder = Path(tempfile.mkdtemp(prefix="bench-store-pg-"))
    data, socket_dir = folder / "data", folder / "socket"
    server = log = None
    try:
        socket_dir.mkdir()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (folder, socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        initdb = subprocess.run(
            as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "callcenterai",
                         "--auth=trust", "-E", "UTF8", "--no-locale"]),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if initdb.returncode:
            raise RuntimeError(f"initdb failed: {(initdb.stderr or initdb.stdout)[-2000:]}")
        version = subprocess.run(
            [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout.split()  # postgres (PostgreSQL) 15.18 (Debian ...)
        version = f"PostgreSQL {version[2]}" if len(version) > 2 else " ".join(version)
        port = free_port()
        log = (folder / "server.log").open("w")
        server = subprocess.Popen(
            as_postgres([str(bin_dir / "postgres"), "-D", str(data), "-k", str(socket_dir),
                         "-p", str(port), "-c", "listen_addresses=127.0.0.1"]),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(
                    host="127.0.0.1", port=port, user="callcenterai", dbname="postgres",
                    autocommit=True, connect_timeout=2,
                ) as connection:  # fmt: skip
                    connection.execute("CREATE DATABASE tickets")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError((folder / "server.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        yield f"postgresql+psycopg://callcenterai@127.0.0.1:{port}/tickets", version
    finally:
        if server is not None:
            stop(server, timeout=20)
        _stop_postmaster(data / "postmaster.pid")
        if log is not None:
            log.close()
        shutil.rmtree(folder, ignore_errors=True)


def _stop_postmaster(pid_file: Path) -> None:
    """If the server outlived its ``runuser`` parent, stop it by the pid it wrote."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


# -- tickets -----------------------------------------------------------------------------------


def routed_to_tfidf(text: str) -> bool:
    """The agent's plan for this ticket starts (and, with confidence 0, ends) with TF-IDF.

    The language is detected before names are looked for, so ``person_names=False`` gives the
    same plan as the agent's scrubbing."""
    return plan_route(Scrubbed(text, False).signals, POLICY).first == TFIDF


def pick_tickets(kaggle_n: int, natural_n: int) -> dict:
    params = load_params()
    frame, _ = load_tickets(
        KAGGLE, params.data.text_columns, params.data.label_column,
        min_per_label=params.data.min_per_label,
    )  # fmt: skip
    test = split_tickets(frame, params.data)["test"].reset_index(drop=True)
    words = test["text"].str.split().str.len()
    median = test["text"][(words - words.median()).abs().idxmin()]
    natural = pd.read_csv(NATURAL)
    per_language = max(1, natural_n // 3)
    natural_texts = [
        ticket
        for _, group in sorted(natural.groupby("language"))
        for ticket in group["text"].sample(n=min(per_language, len(group)), random_state=0)
    ]
    kaggle_texts = test["text"].sample(n=min(kaggle_n, len(test)), random_state=0).tolist()
    skipped = {"kaggle": 0, "natural": 0}
    kept = {"kaggle": [], "natural": []}
    for source, texts in (("kaggle", kaggle_texts), ("natural", natural_texts)):
        for ticket in texts:
            if routed_to_tfidf(ticket):
                kept[source].append(ticket)
            else:
                skipped[source] += 1
    if not routed_to_tfidf(median):
        raise RuntimeError("the median ticket would be routed to the transformer")
    return {"median": median, **kept, "skipped_transformer_route": skipped}


# -- measurements ------------------------------------------------------------------------------


def metrics_of(base: str) -> dict:
    """The agent's store counters and its transformer calls, from /metrics."""
    body = httpx.get(f"{base}/metrics", timeout=5).text
    values = {"stored": 0.0, "failed": 0.0, "dropped": 0.0, "backlog": 0.0, "transformer": 0.0}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "callcenterai_store_writes_total":
                values[sample.labels["outcome"]] = sample.value
            elif sample.name == "callcenterai_store_backlog":
                values["backlog"] = sample.value
            elif sample.labels.get("downstream") == "transformer" and (
                sample.name == "callcenterai_downstream_duration_seconds_count"
                or (
                    sample.name == "callcenterai_downstream_errors_total"
                    and sample.labels.get("reason") == "circuit_open"
                )
            ):
                values["transformer"] += sample.value  # calls tried (open breaker: skipped)
    return {key: int(value) for key, value in values.items()}


class Checked:
    """Answers checked to come from TF-IDF alone; anything else is counted, not timed."""

    def __init__(self):
        self.not_tfidf = self.errors = 0

    def ok(self, response: httpx.Response) -> bool:
        if response.status_code != 200:
            self.errors += 1
            return False
        if response.json()["explanation"]["models_called"] != [TFIDF]:
            self.not_tfidf += 1
        return True


def overhead(on: str, off: str, tickets: dict, repeats: int, warmup: int) -> dict:
    """Sequential requests from one client, A/B then B/A, on the same tickets."""
    checked = Checked()
    groups = {
        "median_ticket": [tickets["median"]] * repeats,
        "kaggle_tickets": tickets["kaggle"],
        "natural_tickets": tickets["natural"],
    }
    result: dict = {}
    with httpx.Client(timeout=30) as client:
        spread = tickets["kaggle"] + tickets["natural"]
        for ticket in (spread * 2)[:warmup] + [tickets["median"]] * warmup:
            for base in (on, off):
                checked.ok(client.post(f"{base}/classify", json={"text": ticket}))
        for name, texts in groups.items():
            times: dict[str, list[float]] = {"store_on": [], "store_off": []}
            paired: list[float] = []
            for i, ticket in enumerate(texts):
                order = (("store_on", on), ("store_off", off))
                pair = {}
                for variant, base in order if i % 2 == 0 else order[::-1]:
                    started = time.perf_counter()
                    response = client.post(f"{base}/classify", json={"text": ticket})
                    pair[variant] = time.perf_counter() - started
                    if not checked.ok(response):
                        pair = {}
                        break
                if len(pair) == 2:
                    for variant, seconds in pair.items():
                        times[variant].append(seconds)
                    paired.append(pair["store_on"] - pair["store_off"])
            if not paired:
                continue
            stats = {variant: percentiles(samples) for variant, samples in times.items()}
            stats["p50_difference_ms"] = round(
                stats["store_on"]["p50_ms"] - stats["store_off"]["p50_ms"], 3
            )
            stats["p50_ratio"] = round(
                stats["store_on"]["p50_ms"] / stats["store_off"]["p50_ms"], 3
            )
            stats["median_paired_difference_ms"] = round(statistics.median(paired) * 1000, 3)
            result[name] = stats
    result["answers_not_from_tfidf_alone"] = checked.not_tfidf
    result["errors"] = checked.errors
    result["target_met"] = result["median_ticket"]["p50_difference_ms"] <= TARGET_OVERHEAD_P50_MS
    return result


def request_side(tfidf: str, ticket: str, workdir: Path, repeats: int) -> dict:
    """``Agent._record`` alone (the row + ``TicketWriter.submit``), in this process, with the
    writer thread writing to a SQLite file meanwhile."""
    settings = Settings(
        store_enabled=True,
        store_url=f"sqlite:///{(workdir / 'in-process.db').resolve()}",
        tfidf_url=tfidf,
        pii_person_names=False,
        route=POLICY,
        shadow_share=0.0,
    )
    agent = Agent(settings, AgentMetrics("agent"))
    agent.start()
    try:
        scrubbed = Scrubbed(ticket, False)
        answer = Prediction.model_validate_json(
            httpx.post(f"{tfidf}/predict", json={"text": scrubbed.text, "explain": True}).content
        )
        plan = plan_route(scrubbed.signals, POLICY)
        needs_transformer(plan, answer.confidence, POLICY)
        decision = decide(plan, scrubbed.signals, POLICY, {TFIDF: answer}, {})
        reason = decision.explanation()["reason"]
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            agent._record(decision, scrubbed, "email", reason)
            samples.append(time.perf_counter() - started)
            time.sleep(0.001)  # one at a time, as sequential requests hand them over
        agent.writer.flush(timeout=30)
        stored = agent.writer.store.count()
    finally:
        asyncio.run(agent.close())
    return {**percentiles(samples), "rows_stored": stored}


async def _load(url: str, texts: list[str], clients: int, seconds: float, max_requests: int):
    checked = Checked()
    ids: list[str] = []
    latencies: list[float] = []
    sent = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker(k: int) -> None:
            nonlocal sent
            i = k
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                ticket = texts[i % len(texts)]
                i += clients
                started = time.perf_counter()
                try:
                    response = await client.post(url, json={"text": ticket})
                except httpx.HTTPError:
                    checked.errors += 1
                    continue
                if checked.ok(response):
                    latencies.append(time.perf_counter() - started)
                    ids.append(response.json()["ticket_id"])

        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(clients)))
        elapsed = time.perf_counter() - started
    return ids, latencies, elapsed, checked


def stored_ids(store: TicketStore) -> set[str]:
    with store.engine.connect() as connection:
        return set(connection.scalars(select(Ticket.id)))


def sustained(
    base: str, url: str, texts: list[str], clients: int, seconds: float, max_requests: int
) -> dict:
    """The agent under concurrent load, then a flush wait and the store checked row by row."""
    store = TicketStore(url)
    try:
        with httpx.Client(timeout=30) as client:  # warm-up, outside the measurement
            for ticket in texts[:10]:
                client.post(f"{base}/classify", json={"text": ticket})
        deadline = time.monotonic() + 30
        while metrics_of(base)["backlog"] and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        before, rows_before = metrics_of(base), store.count()
        ids, latencies, elapsed, checked = asyncio.run(
            _load(f"{base}/classify", texts, clients, seconds, max_requests)
        )
        at_end = metrics_of(base)
        backlog_at_end = httpx.get(f"{base}/health", timeout=10).json()["store"]["backlog"]
        flush_started = time.perf_counter()
        expected = rows_before + len(ids)
        rows = store.count()
        while rows < expected and time.perf_counter() - flush_started < 30:
            time.sleep(0.2)
            rows = store.count()
        flush_seconds = time.perf_counter() - flush_started
        after = metrics_of(base)
        missing = len(set(ids) - stored_ids(store))
    finally:
        store.close()
    answered = len(ids)
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "answered": answered,
        "errors": checked.errors,
        "answers_not_from_tfidf_alone": checked.not_tfidf,
        "requests_per_second": round(answered / elapsed, 1),
        "latency": percentiles(latencies) if latencies else None,
        "rows_stored_per_second_during_load": round(
            (at_end["stored"] - before["stored"]) / elapsed, 1
        ),
        "stored": after["stored"] - before["stored"],
        "failed": after["failed"] - before["failed"],
        "dropped": after["dropped"] - before["dropped"],
        "backlog_at_end_of_load": backlog_at_end,
        "flush_seconds": round(flush_seconds, 2),
        "rows_added": rows - rows_before,
        "answered_tickets_missing_from_store": missing,
        "all_answered_tickets_stored": missing == 0 and rows - rows_before == answered,
    }


def agent_rows(url: str, limit: int = 2000) -> list[dict]:
    """Rows the agent wrote (every column, as it filled them): the raw inserts' templates."""
    store = TicketStore(url)
    try:
        with store.engine.connect() as connection:
            query = select(Ticket.__table__).limit(limit)
            return [dict(mapping) for mapping in connection.execute(query).mappings()]
    finally:
        store.close()


def fresh(template: dict) -> dict:
    return {**template, "id": uuid.uuid4().hex, "created_at": now()}


def raw_inserts(url: str, templates: list[dict], batches: int, seconds: float) -> dict:
    """``TicketStore.add`` of batches of 256 rows, one after the other (rows built untimed):
    copies of the agent's own rows with fresh ids."""
    store = TicketStore(url)
    try:
        store.migrate()
        store.add([fresh(templates[i % len(templates)]) for i in range(BATCH_ROWS)])  # warm-up
        rows_before = store.count()
        times: list[float] = []
        started = time.perf_counter()
        while len(times) < batches and time.perf_counter() - started < seconds:
            batch = [
                fresh(templates[(len(times) * BATCH_ROWS + i) % len(templates)])
                for i in range(BATCH_ROWS)
            ]
            t0 = time.perf_counter()
            store.add(batch)
            times.append(time.perf_counter() - t0)
        added = store.count() - rows_before
        settings = {}
        if url.startswith("sqlite"):
            with store.engine.connect() as connection:
                for pragma in ("journal_mode", "synchronous"):
                    settings[pragma] = connection.execute(text(f"PRAGMA {pragma}")).scalar()
            levels = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
            settings["synchronous"] = levels.get(settings["synchronous"], settings["synchronous"])
        else:
            with store.engine.connect() as connection:
                for name in ("fsync", "synchronous_commit"):
                    settings[name] = connection.execute(text(f"SHOW {name}")).scalar()
    finally:
        store.close()
    return {
        "batch_rows": BATCH_ROWS,
        "batches": len(times),
        "rows_added": added,
        "rows_per_second": round(len(times) * BATCH_ROWS / sum(times), 0),
        "batch_ms": {
            "p50": round(statistics.median(times) * 1000, 2),
            "max": round(max(times) * 1000, 2),
        },
        "settings": settings,
    }


# -- the run -----------------------------------------------------------------------------------


def _terminate(signum, _frame):
    raise SystemExit(128 + signum)  # run the clean-up (finally / ExitStack) on SIGTERM too


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Smoke run: few requests, 3 s.")
    parser.add_argument("--seconds", type=float, default=30, help="Length of each load test.")
    parser.add_argument("--clients", type=int, default=16, help="Concurrent clients under load.")
    parser.add_argument("--tickets", type=int, default=300, help="Kaggle test tickets.")
    parser.add_argument("--natural", type=int, default=150, help="Natural tickets (en/fr/ar).")
    parser.add_argument("--repeats", type=int, default=300, help="Median-ticket requests.")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only.")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.tickets, args.natural, args.repeats = 3, 30, 15, 30
    warmup = 5 if args.quick else 20
    raw_batches, raw_seconds = (8, 2.0) if args.quick else (200, 10.0)
    max_requests = 200_000
    signal.signal(signal.SIGTERM, _terminate)

    command = (
        "python -m benchmarks.store --quick"
        if args.quick
        else f"python -m benchmarks.store --seconds {args.seconds:g} --clients {args.clients} "
        f"--tickets {args.tickets} --natural {args.natural} --repeats {args.repeats}"
    ) + (" --no-postgres" if args.no_postgres else "")
    started = time.perf_counter()
    model = ensure_model()
    tickets = pick_tickets(args.tickets, args.natural)
    spread = tickets["kaggle"] + tickets["natural"]
    result: dict = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "quick": args.quick,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
        },
        "target_overhead_p50_ms": TARGET_OVERHEAD_P50_MS,
        "model": model,
        "routing": {**ROUTE_ENV, "transformer_url": "a loopback port where nothing listens"},
        "tickets": {
            "median_words": len(tickets["median"].split()),
            "median_repeats": args.repeats,
            "kaggle": len(tickets["kaggle"]),
            "natural": len(tickets["natural"]),
            "skipped_transformer_route": tickets["skipped_transformer_route"],
        },
    }
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-store-")))
        ports = {name: free_port() for name in ("tfidf", "on", "off", "pg", "dead")}
        base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        env = local_env(CALLCENTERAI_LOG_LEVEL="WARNING", **ROUTE_ENV)
        serve(stack, "tfidf", ports["tfidf"], env, workdir, "--model", str(MODEL))
        agent_args = ("--tfidf-url", base["tfidf"], "--transformer-url", base["dead"])
        sqlite_url = f"sqlite:///{(workdir / 'agent' / 'tickets.db').resolve()}"
        on_env = {**env, "CALLCENTERAI_STORE_ENABLED": "true", "CALLCENTERAI_STORE_URL": sqlite_url}
        off_env = {**env, "CALLCENTERAI_STORE_ENABLED": "false"}
        on = serve(stack, "agent", ports["on"], on_env, workdir, *agent_args)
        off = serve(stack, "agent", ports["off"], off_env, workdir, *agent_args)
        wait_store_up(base["on"])

        print("1. overhead, sequential A/B ...", flush=True)
        result["overhead"] = overhead(base["on"], base["off"], tickets, args.repeats, warmup)
        print(json.dumps(result["overhead"], indent=2), flush=True)
        result["request_side_in_process"] = request_side(
            base["tfidf"], tickets["median"], workdir, args.repeats
        )
        print("request side, in process:", result["request_side_in_process"], flush=True)
        transformer_calls = metrics_of(base["off"])["transformer"]
        stop(off)

        print(f"2. load: {args.clients} clients, {args.seconds:g} s, SQLite ...", flush=True)
        result["load"] = {
            "sqlite": sustained(
                base["on"], sqlite_url, spread, args.clients, args.seconds, max_requests
            )
        }
        result["transformer_calls"] = transformer_calls + metrics_of(base["on"])["transformer"]
        print(json.dumps(result["load"]["sqlite"], indent=2), flush=True)
        stop(on)
        templates = agent_rows(sqlite_url)
        raw_url = f"sqlite:///{(workdir / 'raw' / 'tickets.db').resolve()}"
        result["raw_inserts"] = {
            "sqlite": raw_inserts(raw_url, templates, raw_batches, raw_seconds)
        }
        print("raw inserts, SQLite:", result["raw_inserts"]["sqlite"], flush=True)

        server = None if args.no_postgres else stack.enter_context(postgres_server())
        if server is not None:
            pg_url, result["machine"]["postgresql"] = server
            result["raw_inserts"]["postgresql"] = raw_inserts(
                pg_url, templates, raw_batches, raw_seconds
            )
            print("raw inserts, PostgreSQL:", result["raw_inserts"]["postgresql"], flush=True)
            pg_env = {**env, "CALLCENTERAI_STORE_ENABLED": "true", "CALLCENTERAI_STORE_URL": pg_url}
            serve(stack, "agent", ports["pg"], pg_env, workdir, *agent_args)
            wait_store_up(base["pg"])
            print(
                f"3. load: {args.clients} clients, {args.seconds:g} s, PostgreSQL ...", flush=True
            )
            result["load"]["postgresql"] = sustained(
                base["pg"], pg_url, spread, args.clients, args.seconds, max_requests
            )
            result["transformer_calls"] += metrics_of(base["pg"])["transformer"]
            print(json.dumps(result["load"]["postgresql"], indent=2), flush=True)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    print("transformer calls:", result["transformer_calls"], flush=True)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "store.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"report: {render_report()}")


if __name__ == "__main__":
    main()

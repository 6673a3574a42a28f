"""Load benchmark of the model services over loopback HTTP, with wrk as the load generator.

Run after ``dvc repro`` (it serves ``models/tfidf`` and ``models/transformer``) with
``python -m benchmarks.services``; needs ``wrk`` (``apt-get install wrk``). Each service runs
alone as one uvicorn process; wrk (written in C, one thread) shares the same 2 cores, so the
numbers are what this machine does with client and server on it. Writes
``reports/benchmarks/services.json`` and re-renders ``reports/benchmark.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import psutil

from benchmarks.report import REPORT_DIR, render_report
from callcenterai.data import read_split

WRK_SCRIPT = """
wrk.method = "{method}"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {{"p50_ms":%f,"p95_ms":%f,"p99_ms":%f,"requests":%d,"seconds":%f,"errors":%d}}\\n',
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.timeout + e.status))
end
"""


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def wrk(url: str, body: str | None, connections: int, seconds: int, workdir: Path) -> dict:
    script = workdir / "wrk.lua"
    method = "POST" if body is not None else "GET"
    script.write_text(WRK_SCRIPT.format(method=method, body=lua_string(body or "")))
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(x for x in output.splitlines() if x.startswith("WRK "))
    result = json.loads(line[4:])
    result["requests_per_second"] = result["requests"] / result["seconds"]
    result["connections"] = connections
    return result


class Sampler(threading.Thread):
    """Samples a process's CPU use and resident memory while a load test runs."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.cpu, self.rss = [], []
        self.running = True

    def run(self):
        self.process.cpu_percent(None)
        while self.running:
            time.sleep(0.5)
            self.cpu.append(self.process.cpu_percent(None))
            self.rss.append(self.process.memory_info().rss / 2**20)

    def stop(self) -> dict:
        self.running = False
        self.join()
        return {
            "mean_cpu_percent": sum(self.cpu) / max(len(self.cpu), 1),
            "peak_rss_mb": max(self.rss, default=0.0),
        }


def local_env(**variables: str) -> dict:
    """A benchmarked process's environment: models from local folders (no tracking server)."""
    env = {**os.environ, **variables}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def start(kind: str, port: int, env: dict, *args: str) -> subprocess.Popen:
    """``callcenterai serve <kind> --port <port> <args>``, returned once /ready answers 200."""
    process = subprocess.Popen(
        [sys.executable, "-m", "callcenterai", "--log-level", "WARNING", "serve", kind,
         "--port", str(port), *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2):  # nosec
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"{kind} service did not become ready")


def tickets() -> dict[str, str]:
    test = read_split(Path("data/processed/test.csv"))
    words = test["text"].str.split().str.len()
    return {
        "median": test["text"][(words - words.median()).abs().idxmin()],
        "long": test["text"][(words - words.quantile(0.95)).abs().idxmin()],
    }


def bench_service(kind: str, model: str, texts: dict, seconds: int, env: dict) -> dict:
    port = 18000 + (0 if kind == "tfidf" else 1)
    process = start(kind, port, env, "--model", model)
    base = f"http://127.0.0.1:{port}"
    results: dict = {"model": model}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            body = json.dumps({"text": texts["median"]})
            wrk(f"{base}/predict", body, 4, 3, workdir)  # warm-up
            for length, text in texts.items():
                results[f"{length}_ticket_sequential"] = wrk(
                    f"{base}/predict", json.dumps({"text": text}), 1, seconds, workdir
                )
            sampler = Sampler(process.pid)
            sampler.start()
            results["median_ticket_8_clients"] = wrk(f"{base}/predict", body, 8, seconds, workdir)
            results["median_ticket_8_clients"].update(sampler.stop())
            results["health_8_clients"] = wrk(f"{base}/health", None, 8, seconds, workdir)
    finally:
        process.terminate()
        process.wait(timeout=20)
    results["predict_to_health_throughput_ratio"] = (
        results["median_ticket_8_clients"]["requests_per_second"]
        / results["health_8_clients"]["requests_per_second"]
    )
    return results


def micro_batching(kind: str, text: str, seconds: int, env: dict) -> dict:
    """8 clients, then 1 client, on one service with micro-batching on (the default settings)."""
    port = 18010 + (0 if kind == "tfidf" else 1)
    process = start(kind, port, env, "--model", f"models/{kind}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url, body = f"http://127.0.0.1:{port}/predict", json.dumps({"text": text})
            wrk(url, body, 4, 3, Path(tmp))
            return {
                "8_clients": wrk(url, body, 8, seconds, Path(tmp)),
                "1_client": wrk(url, body, 1, seconds, Path(tmp)),
            }
    finally:
        process.terminate()
        process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed: apt-get install wrk")
    env = local_env(CALLCENTERAI_MICRO_BATCH_SIZE="1")  # the baseline: one call each
    texts = tickets()
    results = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": f"python -m benchmarks.services --seconds {args.seconds}",
        "machine": {"cpus": os.cpu_count()},
        "tickets": {k: len(v.split()) for k, v in texts.items()},
        "services": {},
    }
    for kind in ("tfidf", "transformer"):
        results["services"][kind] = bench_service(kind, f"models/{kind}", texts, args.seconds, env)
        print(kind, json.dumps(results["services"][kind], indent=2), flush=True)
    batched_env = {
        **env,
        "CALLCENTERAI_MICRO_BATCH_SIZE": "8",
        "CALLCENTERAI_MICRO_BATCH_WAIT_MS": "0",
    }
    results["micro_batching"] = {
        kind: micro_batching(kind, texts["median"], args.seconds, batched_env)
        for kind in ("tfidf", "transformer")
    }
    print("micro-batching", json.dumps(results["micro_batching"], indent=2), flush=True)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "services.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"report: {render_report()}")


if __name__ == "__main__":
    main()

"""The first start of a fresh clone, a restart, and a promotion under load, timed.

Run with ``python -m benchmarks.first_start`` (after ``make venv``; it needs no trained model):

1. ``callcenterai up`` in an empty stack folder (what ``make run`` runs on a fresh clone): the
   time until the agent gives the expected category to real-looking tickets (what the chat page
   posts), and until the quick transformer has joined (agent ``/health`` "ok");
2. Ctrl-C, then ``up`` again on the same folder: the time until both models answer;
3. a new TF-IDF version trained and promoted while a load generator posts tickets to the agent
   (TF-IDF forced, so each answer carries its version): failed requests, and the time from the
   alias moving to the first answer from the new version (polling interval: ``model_poll_s``).

Writes ``reports/benchmarks/first_start.json`` and re-renders ``reports/benchmark.md``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.report import REPORT_DIR, render_report
from callcenterai.config import get_settings

# Written for this benchmark (not from any dataset), in the style users type.
TICKETS = [
    ("Hello, my laptop screen stays black since this morning, the charger light is on. "
     "Call me at +33 6 12 34 56 78", "Hardware"),
    ("Bonjour, mon mot de passe a expiré et je n'arrive plus à me connecter au VPN, "
     "pouvez-vous réinitialiser mon accès ?", "Access"),
    ("السلام عليكم، أحتاج إلى شراء شاشة ثانية ولوحة مفاتيح لفريقنا الجديد، ما هي الإجراءات؟",
     "Purchase"),
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(url: str, body: dict | None = None, timeout: float = 30) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {}
    except OSError:
        return 0, {}


class Stack:
    def __init__(self, folder: Path, ports: dict[str, int], log: Path):
        self.folder, self.ports, self.log = folder, ports, log
        self.agent = f"http://127.0.0.1:{ports['agent']}"
        self.process = None

    def start(self) -> float:
        command = [sys.executable, "-m", "callcenterai", "up", "--dir", str(self.folder)]
        for name, port in self.ports.items():
            command += [f"--{name}-port", str(port)]
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        with self.log.open("a") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        return time.perf_counter()

    def wait(self, condition, timeout: float, what: str) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"`callcenterai up` exited:\n{self.log.read_text()[-3000:]}")
            if condition():
                return time.perf_counter()
            time.sleep(0.5)
        raise RuntimeError(f"{what}: not within {timeout} s\n{self.log.read_text()[-3000:]}")

    def first_correct(self, started: float, timeout: float) -> dict[str, float | None]:
        """Seconds from ``started`` until each ticket was first answered with its category;
        None for a ticket still wrong a minute after the full system is up (both models)."""
        found: dict[str, float | None] = {}
        deadline = time.monotonic() + timeout
        while len(found) < len(TICKETS) and time.monotonic() < deadline:
            if self.both_ready():
                deadline = min(deadline, time.monotonic() + 60)
            if self.process.poll() is not None:
                raise RuntimeError(f"`callcenterai up` exited:\n{self.log.read_text()[-3000:]}")
            for text, expected in TICKETS:
                if expected in found:
                    continue
                status, body = call(f"{self.agent}/classify", {"text": text})
                if status == 200 and body.get("label") == expected:
                    found[expected] = round(time.perf_counter() - started, 1)
            time.sleep(0.5)
        return {expected: found.get(expected) for _, expected in TICKETS}

    def answers(self) -> list[dict]:
        return [call(f"{self.agent}/classify", {"text": text})[1] for text, _ in TICKETS]

    def both_ready(self) -> bool:
        return call(f"{self.agent}/health")[1].get("status") == "ok"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=120)


def agent_quality(stack: Stack, kaggle_rows: int = 1000) -> dict:
    """The agent on first-start models, against TF-IDF alone (forced) in the same run: the
    natural evaluation set per language and the first ``kaggle_rows`` Kaggle test tickets."""
    import pandas as pd
    from sklearn.metrics import f1_score

    from callcenterai.config import load_params
    from callcenterai.data import read_split

    params = load_params()
    natural = pd.read_csv(params.natural.path("eval"), dtype=str, keep_default_na=False)
    test = read_split(stack.folder / "bootstrap" / "tfidf" / "data" / "processed" / "test.csv")
    test = test.iloc[:kaggle_rows]
    results = {}
    for mode, extra in (("agent", {}), ("tfidf_alone", {"force_model": "tfidf"})):

        def labels(texts):
            return [
                call(f"{stack.agent}/classify", {"text": text, **extra})[1].get("label")
                for text in texts
            ]

        natural_predicted = pd.Series(labels(natural["text"]), index=natural.index)
        correct = natural_predicted == natural["label"]
        kaggle_predicted = labels(test["text"])
        results[mode] = {
            "natural_accuracy": {
                code: round(float(correct[rows.index].mean()), 4)
                for code, rows in natural.groupby("language")
            },
            "kaggle_test_macro_f1": round(
                float(f1_score(test["label"], kaggle_predicted, average="macro")), 4
            ),
        }
    results["kaggle_rows"] = len(test)
    return results


def promotion_under_load(stack: Stack, workdir: Path) -> dict:
    """Train and promote a new TF-IDF version while tickets are posted to the agent."""
    from callcenterai.config import load_params, project_file
    from callcenterai.pipeline import Layout, stage_prepare, stage_promote, stage_train

    os.environ["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{stack.ports['mlflow']}"
    get_settings.cache_clear()
    seen, failures, stopping = [], [], threading.Event()

    def load():
        while not stopping.is_set():
            status, body = call(
                f"{stack.agent}/classify", {"text": TICKETS[0][0], "force_model": "tfidf"}
            )
            if status == 200:
                seen.append((time.perf_counter(), body["model"]["version"]))
            else:
                failures.append(status)

    params = load_params()
    layout = Layout(workdir)
    stage_prepare(project_file(params.data.input), layout, params)
    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    time.sleep(2)
    version = stage_train("tfidf", layout, params).registered_version
    decision = stage_promote(layout, params)
    moved = time.perf_counter()
    deadline = time.monotonic() + 120
    while not any(v == version for _, v in seen) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)
    stopping.set()
    thread.join(timeout=60)
    switched = next((at for at, v in seen if v == version), None)
    return {
        "new_version": version,
        "promoted": decision["promoted"],
        "requests": len(seen) + len(failures),
        "failed_requests": len(failures),
        "versions_seen": sorted({v for _, v in seen}, key=int),
        "seconds_from_alias_move_to_new_version": None if switched is None else round(
            switched - moved, 1),
        "poll_interval_s": get_settings().model_poll_s,
    }  # fmt: skip


def main() -> None:
    ports = {n: free_port() for n in ("mlflow", "agent", "tfidf", "transformer", "prometheus")}
    results: dict = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.first_start",
        "machine": {"cpus": os.cpu_count()},
        "base_model_cached": (get_settings().cache_dir / "base-models").exists(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp) / "stack", ports, Path(tmp) / "up.log")
        started = stack.start()
        stack.wait(lambda: call(f"{stack.agent}/ready")[0] == 200, 600, "agent ready")
        results["first_start"] = {
            "seconds_to_agent_ready": round(time.perf_counter() - started, 1),
            "answers_while_training": [
                {k: a.get(k) for k in ("label", "model_used", "confidence")}
                for a in stack.answers()
            ],
            "notice_while_training": call(f"{stack.agent}/health")[1].get("notice"),
        }
        print(json.dumps(results["first_start"]), flush=True)
        correct = stack.first_correct(started, 1800)
        results["first_start"]["seconds_to_correct_answer"] = correct
        results["first_start"]["seconds_to_first_correct_answer"] = min(
            (v for v in correct.values() if v is not None), default=None
        )
        full = stack.wait(stack.both_ready, 1800, "transformer joined")
        results["first_start"]["seconds_to_full_system"] = round(full - started, 1)
        results["first_start"]["answers_full_system"] = [
            {k: a.get(k) for k in ("label", "model_used", "confidence")} for a in stack.answers()
        ]
        results["first_start"]["quality"] = agent_quality(stack)
        stack.stop()
        print(json.dumps(results["first_start"]), flush=True)

        started = stack.start()
        ready = stack.wait(stack.both_ready, 300, "restart")
        results["restart_seconds_to_both_models"] = round(ready - started, 1)
        print("restart", results["restart_seconds_to_both_models"], flush=True)
        results["promotion_under_load"] = promotion_under_load(stack, Path(tmp) / "promotion")
        print(json.dumps(results["promotion_under_load"]), flush=True)
        stack.stop()
        log = (Path(tmp) / "up.log").read_text()
        results["progress_lines_shown"] = log.count("transformer training: [")
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "first_start.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"report: {render_report()}")


if __name__ == "__main__":
    main()

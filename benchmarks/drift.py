"""Drift monitoring on replayed traffic: a shifted week fires the alert, an unshifted one not?

A TF-IDF model trained as the pipeline trains it (Kaggle + the natural corpus) is registered and
promoted in a local MLflow registry; its reference profile is its validation tickets. The TF-IDF
service follows ``@production``; for each replay a fresh agent with its own ticket store streams
the tickets through ``/classify`` and computes drift itself (``CALLCENTERAI_DRIFT_INTERVAL_S=1``);
the benchmark reads ``callcenterai_drift`` from the agent's ``/metrics`` and applies the alert's
condition (``CallCenterAIInputDrift``: a feature above the threshold, at least 100 tickets).

Replays (each ``--tickets`` long, drawn with a fixed seed):

* unshifted: Kaggle test tickets and natural evaluation tickets in the validation split's mix;
* mostly Arabic: 80 % Arabic natural tickets (evaluation set and corpus), the rest unshifted;
* one topic: 80 % Kaggle test tickets of one category (a burst, e.g. after a purchase campaign).

Run ``python -m benchmarks.drift`` (about 3 minutes on 2 cores); writes
``reports/benchmarks/drift.json`` and re-renders ``reports/benchmark.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pandas as pd

from benchmarks.feedback_loop import classify_all, fresh_home
from benchmarks.report import REPORT_DIR, render_report
from benchmarks.services import start
from callcenterai.config import PROJECT_ROOT, Params, load_params
from callcenterai.data import read_split
from callcenterai.drift import ALERT_THRESHOLD
from callcenterai.pipeline import Layout, stage_prepare, stage_promote, stage_train

KAGGLE = PROJECT_ROOT / "data" / "reference" / "kaggle_it_tickets.csv.xz"
NATURAL_EVAL = PROJECT_ROOT / "data" / "eval" / "multilingual_tickets.csv"
CORPUS = PROJECT_ROOT / "data" / "natural" / "tickets.csv"
PORTS = {"tfidf": 8511, "agent": 8510, "nothing": 8519}
MIN_TICKETS = 100  # the alert's guard (deploy/prometheus/alerts.yml)
TOPIC = "Purchase"


def replays(layout: Layout, size: int, seed: int = 11) -> dict[str, list[str]]:
    test = read_split(layout.split("test"))
    natural = pd.read_csv(NATURAL_EVAL)
    val = read_split(layout.split("val"))
    natural_share = float((val["source"] == "natural").mean())
    n_natural = round(size * natural_share)
    unshifted = pd.concat(
        [
            test.sample(size - n_natural, random_state=seed)["text"],
            natural.sample(n_natural, random_state=seed)["text"],
        ]
    ).tolist()
    arabic_pool = pd.concat([natural, pd.read_csv(CORPUS)])
    arabic_pool = arabic_pool[arabic_pool["language"] == "ar"]["text"]
    n_shift = round(size * 0.8)
    arabic = arabic_pool.sample(n_shift, random_state=seed).tolist() + unshifted[: size - n_shift]
    topic = test[test["label"] == TOPIC]
    one_topic = topic.sample(n_shift, random_state=seed, replace=len(topic) < n_shift)
    one_topic = one_topic["text"].tolist() + unshifted[: size - n_shift]
    return {"unshifted": unshifted, "mostly_arabic": arabic, "one_topic": one_topic}


def drift_gauges(url: str, timeout: float = 30) -> tuple[dict[str, float], int]:
    pattern = re.compile(r'callcenterai_drift\{feature="(\w+)",model="tfidf"\} ([0-9.e+-]+)')
    tickets = re.compile(r'callcenterai_drift_window_tickets\{model="tfidf"\} ([0-9.e+-]+)')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = httpx.get(f"{url}/metrics", timeout=5).text
        found = {feature: float(value) for feature, value in pattern.findall(text)}
        count = tickets.search(text)
        if found and count:
            return found, int(float(count.group(1)))
        time.sleep(0.5)
    raise TimeoutError("the agent exported no drift figure")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=600, help="Tickets per replay.")
    parser.add_argument("--workdir", type=Path, default=Path("build/bench-drift"))
    args = parser.parse_args()

    layout = fresh_home(args.workdir)
    work = layout.root
    params: Params = load_params()
    params = params.model_copy(
        update={
            "data": params.data.model_copy(update={"input": str(KAGGLE)}),
            "feedback": params.feedback.model_copy(update={"corrections": None}),
        }
    )
    started = time.perf_counter()
    stage_prepare(KAGGLE, layout, params)
    model = stage_train("tfidf", layout, params)
    stage_promote(layout, params)
    train_s = round(time.perf_counter() - started, 1)
    reference = json.loads((model.model_dir / "drift_reference.json").read_text())

    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlruns' / 'mlflow.db'}",
        "CALLCENTERAI_ROUTE_TFIDF_MIN_CONFIDENCE": "0",  # TF-IDF is asked about every ticket
        "CALLCENTERAI_DRIFT_INTERVAL_S": "1",
        "CALLCENTERAI_DRIFT_MIN_TICKETS": str(MIN_TICKETS),
        "CALLCENTERAI_SHADOW_SHARE": "0",
    }
    urls = {kind: f"http://127.0.0.1:{port}" for kind, port in PORTS.items()}
    results = {}
    tfidf = start("tfidf", PORTS["tfidf"], env)
    try:
        for name, texts in replays(layout, args.tickets).items():
            store = f"sqlite:///{work / f'{name}.db'}"
            agent = start(
                "agent", PORTS["agent"], {**env, "CALLCENTERAI_STORE_URL": store},
                "--tfidf-url", urls["tfidf"], "--transformer-url", urls["nothing"],
            )  # fmt: skip
            try:
                replay_started = time.perf_counter()
                classify_all(urls["agent"], texts)
                time.sleep(2.5)  # two drift rounds after the last ticket
                distances, tickets = drift_gauges(urls["agent"])
            finally:
                agent.terminate()
                agent.wait(timeout=30)
            fires = tickets >= MIN_TICKETS and max(distances.values()) > ALERT_THRESHOLD
            results[name] = {
                "tickets": tickets,
                "distances": distances,
                "above_threshold": sorted(f for f, v in distances.items() if v > ALERT_THRESHOLD),
                "alert_condition": fires,
                "seconds": round(time.perf_counter() - replay_started, 1),
            }
            print(name, results[name])
    finally:
        tfidf.terminate()
        tfidf.wait(timeout=30)

    result = {
        "command": "python -m benchmarks.drift"
        + (f" --tickets {args.tickets}" if args.tickets != 600 else ""),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "threshold": ALERT_THRESHOLD,
        "min_tickets": MIN_TICKETS,
        "reference_tickets": reference["tickets"],
        "reference_languages": reference["histograms"]["language"],
        "topic": TOPIC,
        "train_s": train_s,
        "replays": results,
        "expected": {"unshifted": False, "mostly_arabic": True, "one_topic": True},
        "as_expected": all(
            results[name]["alert_condition"] == expected
            for name, expected in {
                "unshifted": False,
                "mostly_arabic": True,
                "one_topic": True,
            }.items()
        ),
    }
    print(json.dumps(result, indent=2))
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "drift.json").write_text(json.dumps(result, indent=2) + "\n")
    render_report()


if __name__ == "__main__":
    main()

"""The agent's own cost and its end-to-end latency per route, with all three services running.

1. Overhead, in process: scrubbing (structured, then names), language detection, signals and the
   routing plan for a median ticket, without any model call; with person names on and off.
2. End to end over loopback HTTP: ``models/tfidf``, ``models/transformer`` and the agent as
   three uvicorn processes (``callcenterai serve``); sequential requests from one client, grouped
   by the route the agent took; the TF-IDF service is also called directly with the same
   tickets, so "agent minus direct TF-IDF" is the agent's cost over HTTP in the same run.

Run after ``dvc repro`` with ``python -m benchmarks.agent``; writes
``reports/benchmarks/agent.json`` and re-renders ``reports/benchmark.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pandas as pd

from benchmarks.report import REPORT_DIR, render_report
from benchmarks.services import local_env, start
from callcenterai.agent import pii
from callcenterai.agent.routing import needs_transformer, plan_route
from callcenterai.agent.ticket import Scrubbed
from callcenterai.config import Settings
from callcenterai.data import read_split

PORTS = {"tfidf": 8311, "transformer": 8312, "agent": 8310}
# A median-length English ticket as customers write it (the Kaggle texts are already stripped
# of names and punctuation), with a name, a phone number and an e-mail address in it.
CUSTOMER_TICKET = (
    "Hello, this is John Miller from the finance team. Since this morning my laptop cannot "
    "connect to the VPN and Outlook keeps asking for my password. Please call me back at "
    "+44 20 7946 0958 or write to john.miller@example.com. Thanks"
)


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
        "n": len(ordered),
    }


def overhead(text: str, names: bool, repeats: int) -> dict:
    settings = Settings(pii_person_names=names)
    policy = settings.route
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        scrubbed = Scrubbed(text, settings.pii_person_names)
        plan = plan_route(scrubbed.signals, policy)
        needs_transformer(plan, 0.9, policy)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def end_to_end(tickets: list[str], french: list[str], arabic: list[str]) -> dict:
    env = local_env(CALLCENTERAI_LOG_LEVEL="WARNING")
    processes = [
        start("tfidf", PORTS["tfidf"], env, "--model", "models/tfidf"),
        start("transformer", PORTS["transformer"], env, "--model", "models/transformer"),
    ]
    urls = {kind: f"http://127.0.0.1:{PORTS[kind]}" for kind in ("tfidf", "transformer")}
    processes.append(
        start(
            "agent", PORTS["agent"], env,
            "--tfidf-url", urls["tfidf"], "--transformer-url", urls["transformer"],
        )  # fmt: skip
    )
    routes: dict[str, list[float]] = {}
    direct: list[float] = []
    try:
        with httpx.Client(timeout=30) as client:
            agent = f"http://127.0.0.1:{PORTS['agent']}/classify"
            for text in (tickets + french + arabic)[:20]:  # warm-up
                client.post(agent, json={"text": text})
            for text in tickets + french + arabic:
                started = time.perf_counter()
                body = client.post(agent, json={"text": text}).json()
                elapsed = time.perf_counter() - started
                route = "+".join(body["explanation"]["models_called"])
                routes.setdefault(route, []).append(elapsed)
            for text in tickets:
                started = time.perf_counter()
                client.post(urls["tfidf"] + "/predict", json={"text": text, "explain": True})
                direct.append(time.perf_counter() - started)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
    result = {route: percentiles(samples) for route, samples in routes.items()}
    result["direct_tfidf_service"] = percentiles(direct)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()

    test = read_split(Path("data/processed/test.csv"))
    multilingual = pd.read_csv("data/eval/multilingual_tickets.csv")
    english = test["text"].sample(n=args.tickets, random_state=0).tolist()
    french = multilingual.loc[multilingual["language"] == "fr", "text"].tolist()
    arabic = multilingual.loc[multilingual["language"] == "ar", "text"].tolist()
    words = test["text"].str.split().str.len()
    median_ticket = test["text"][(words - words.median()).abs().idxmin()]

    pii.warm_up()
    result = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": f"python -m benchmarks.agent --tickets {args.tickets}",
        "machine": {"cpus": os.cpu_count()},
        "target_overhead_p50_ms": 3.0,
        "overhead": {
            "kaggle_median_ticket": {
                "words": len(median_ticket.split()),
                "names_off": overhead(median_ticket, False, args.repeats),
                "names_on": overhead(median_ticket, True, args.repeats),
            },
            "customer_ticket_with_pii": {
                "words": len(CUSTOMER_TICKET.split()),
                "names_off": overhead(CUSTOMER_TICKET, False, args.repeats),
                "names_on": overhead(CUSTOMER_TICKET, True, args.repeats),
            },
        },
        "end_to_end": end_to_end(english, french, arabic),
        "requests": {"english": len(english), "french": len(french), "arabic": len(arabic)},
    }
    print(json.dumps(result, indent=2))
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "agent.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"report: {render_report()}")


if __name__ == "__main__":
    main()

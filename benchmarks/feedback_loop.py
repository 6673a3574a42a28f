"""A replayed week of the learning loop, end to end, through the running services.

1. A first TF-IDF model trained on the Kaggle tickets alone (pre-processed English), registered
   and promoted in a local MLflow registry: weak on natural French and Arabic tickets.
2. The TF-IDF service follows ``models:/callcenterai-tfidf@production`` (poll 1 s) and the agent
   records every ticket in its store (SQLite). TF-IDF answers every ticket (no transformer here:
   retraining it takes an hour on 2 cores, so this loop measures what corrections do for TF-IDF).
3. The week: the natural training corpus (``data/natural/tickets.csv``, 3,600 tickets written for
   the project in English, French and Arabic) streamed through ``/classify``.
4. Reviewers work through ``GET /tickets/review`` (most uncertain first) and correct each ticket
   with ``POST /tickets/{id}/feedback`` (the corpus label plays the reviewer); the people who
   handle the other tickets correct a random share of those (``--handler-share``) the same way.
5. ``callcenterai feedback export`` (the function), ``prepare`` with the corrections, a
   weight for corrected tickets chosen on the held-out corrections (never on the evaluation set),
   training, champion/challenger promotion (held-out corrections decide, the Kaggle test split may
   lose at most half a point), and the running service switching to the new version without a
   restart.
6. Before and after: the agent's accuracy per language on a fixed held-out slice, the natural
   evaluation set (``data/eval/multilingual_tickets.csv``, 720 tickets, never used to choose
   anything), and the Kaggle test split through the model directly.

Run ``python -m benchmarks.feedback_loop`` (about 10 minutes on 2 cores); writes
``reports/benchmarks/feedback_loop.json`` and re-renders ``reports/benchmark.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pandas as pd

from benchmarks.report import REPORT_DIR, render_report
from benchmarks.services import start
from callcenterai.config import PROJECT_ROOT, Params, get_settings
from callcenterai.data import FEEDBACK_TEST, read_split
from callcenterai.evaluate import evaluate_frame
from callcenterai.models.store import load_classifier
from callcenterai.pipeline import Layout, stage_prepare, stage_promote, stage_train
from callcenterai.tickets.export import export_corrections
from callcenterai.train import train_model

KAGGLE = PROJECT_ROOT / "data" / "reference" / "kaggle_it_tickets.csv.xz"
WEEK = PROJECT_ROOT / "data" / "natural" / "tickets.csv"
HELD_OUT = PROJECT_ROOT / "data" / "eval" / "multilingual_tickets.csv"
PORTS = {"tfidf": 8411, "agent": 8410, "eval_agent": 8412, "nothing": 8419}
WEIGHTS = (1.0, 2.0, 4.0, 8.0)
LANGS = ("en", "fr", "ar")


def fresh_home(folder: Path) -> Layout:
    """An empty work folder as this process's home: its own MLflow store, data and models."""
    work = folder.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.environ["CALLCENTERAI_HOME"] = str(work)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    get_settings.cache_clear()
    return Layout(work)


def classify_all(url: str, texts: list[str], concurrency: int = 4) -> list[dict]:
    """POST every text to the agent's /classify, a few at a time; the answers in order."""

    async def run() -> list[dict]:
        semaphore = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:

            async def one(text: str) -> dict:
                async with semaphore:
                    response = await client.post("/classify", json={"text": text})
                    response.raise_for_status()
                    return response.json()

            return await asyncio.gather(*(one(text) for text in texts))

    return asyncio.run(run())


def per_language(answers: list[dict], frame: pd.DataFrame) -> dict:
    frame = frame.assign(predicted=[a["label"] for a in answers])
    correct = frame["predicted"] == frame["label"]
    result = {lang: round(float(correct[frame.language == lang].mean()), 4) for lang in LANGS}
    result["all"] = round(float(correct.mean()), 4)
    return result


def work_the_queue(url: str, truth: dict[str, str], budget: int) -> tuple[dict, set[str]]:
    """Correct tickets from the review queue, most uncertain first, until ``budget``."""
    corrected = agreed = pages = 0
    done: set[str] = set()
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=30) as client:
        while corrected < budget:
            page = client.get("/tickets/review", params={"limit": 50}).json()
            pages += 1
            if not page["tickets"]:
                break
            for ticket in page["tickets"]:
                if corrected >= budget:
                    break
                label = truth[ticket["ticket_id"]]
                response = client.post(
                    f"/tickets/{ticket['ticket_id']}/feedback", json={"label": label}
                )
                response.raise_for_status()
                corrected += 1
                done.add(ticket["ticket_id"])
                agreed += response.json()["model_was_right"]
        waiting = client.get("/tickets/review", params={"limit": 1}).json()["waiting"]
    summary = {
        "corrections": corrected,
        "model_was_right": agreed,
        "pages_read": pages,
        "still_waiting": waiting,
        "seconds": round(time.perf_counter() - started, 1),
    }
    return summary, done


def handlers_correct(
    url: str, truth: dict[str, str], reviewed: set[str], share: float, seed: int = 7
) -> dict:
    """The people handling tickets outside the queue correct a random share of them."""
    import random

    with httpx.Client(base_url=url, timeout=30) as client:
        rest = sorted(set(truth) - reviewed)
        chosen = random.Random(seed).sample(rest, int(len(rest) * share))
        right = 0
        for ticket_id in chosen:
            response = client.post(
                f"/tickets/{ticket_id}/feedback", json={"label": truth[ticket_id]}
            )
            response.raise_for_status()
            right += response.json()["model_was_right"]
    return {"corrections": len(chosen), "model_was_right": right, "out_of": len(rest)}


def wait_for_version(url: str, version: str, timeout: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        model = httpx.get(f"{url}/health", timeout=5).json().get("model") or {}
        if str(model.get("version")) == version:
            return time.monotonic() - started
        time.sleep(0.5)
    raise TimeoutError(f"the service did not switch to version {version}")


def kaggle_f1(model_dir: Path, test: pd.DataFrame, params: Params) -> float:
    metrics, _ = evaluate_frame(load_classifier(model_dir), test, params.data.short_ticket_words)
    return round(metrics["macro_f1"], 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=600, help="Corrections the reviewers make.")
    parser.add_argument(
        "--handler-share", type=float, default=0.15, help="Share of the other tickets corrected."
    )
    parser.add_argument("--workdir", type=Path, default=Path("build/bench-feedback-loop"))
    args = parser.parse_args()

    layout = fresh_home(args.workdir)
    work = layout.root
    base = Params.model_validate({"data": {"input": str(KAGGLE)}, "natural": {"corpus": None}})
    timings: dict[str, float] = {}

    # 1. The first model: Kaggle only.
    started = time.perf_counter()
    stage_prepare(KAGGLE, layout, base)
    first = stage_train("tfidf", layout, base)
    stage_promote(layout, base)
    timings["first_model_s"] = round(time.perf_counter() - started, 1)
    test = read_split(layout.split("test"))
    first_kaggle = kaggle_f1(first.model_dir, test, base)  # its folder is reused by the second

    # 2. The services: TF-IDF following the alias, the agent with its store.
    tracking = f"sqlite:///{work / 'mlruns' / 'mlflow.db'}"
    store_url = f"sqlite:///{work / 'tickets.db'}"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking,
        "CALLCENTERAI_MODEL_POLL_S": "1",
        "CALLCENTERAI_STORE_URL": store_url,
        "CALLCENTERAI_ROUTE_TFIDF_MIN_CONFIDENCE": "0",  # TF-IDF answers every ticket
        "CALLCENTERAI_MAX_TEXT_CHARS": "20000",
    }
    urls = {kind: f"http://127.0.0.1:{port}" for kind, port in PORTS.items()}
    agent_args = ("--tfidf-url", urls["tfidf"], "--transformer-url", urls["nothing"])
    processes = [start("tfidf", PORTS["tfidf"], env)]
    try:
        processes.append(start("agent", PORTS["agent"], env, *agent_args))
        # The held-out slice goes through an agent without a store: its tickets must never reach
        # the review queue (a reviewer correcting them would leak them into training).
        no_store = {**env, "CALLCENTERAI_STORE_ENABLED": "false"}
        processes.append(start("agent", PORTS["eval_agent"], no_store, *agent_args))
        held_out = pd.read_csv(HELD_OUT)
        before = per_language(classify_all(urls["eval_agent"], held_out.text.tolist()), held_out)

        # 3. The week, then 4. the reviewers.
        week = pd.read_csv(WEEK)
        loop_started = time.perf_counter()
        answers = classify_all(urls["agent"], week.text.tolist())
        timings["week_streamed_s"] = round(time.perf_counter() - loop_started, 1)
        week_accuracy = per_language(answers, week)
        truth = {a["ticket_id"]: label for a, label in zip(answers, week.label)}
        review, reviewed = work_the_queue(urls["agent"], truth, args.budget)
        handlers = handlers_correct(urls["agent"], truth, reviewed, args.handler_share)

        # 5. Export, prepare, weight chosen on the held-out corrections, train, promote.
        export = export_corrections(store_url, work / "data" / "feedback" / "corrections.csv")
        corrections = pd.read_csv(work / "data" / "feedback" / "corrections.csv")
        corrected_languages = corrections.language.value_counts().to_dict()
        with_feedback = base.model_copy(
            update={
                "feedback": base.feedback.model_copy(
                    update={"corrections": "data/feedback/corrections.csv"}
                )
            }
        )
        report = stage_prepare(KAGGLE, layout, with_feedback)
        feedback_test = read_split(layout.processed / FEEDBACK_TEST)
        train, val = read_split(layout.split("train")), read_split(layout.split("val"))
        sweep = {}
        for weight in WEIGHTS:
            params = with_feedback.model_copy(
                update={"feedback": with_feedback.feedback.model_copy(update={"weight": weight})}
            )
            result = train_model(
                "tfidf", train, val, work / "sweep" / str(weight), params, register=False
            )
            metrics, _ = evaluate_frame(
                load_classifier(result.model_dir), feedback_test, params.data.short_ticket_words
            )
            sweep[str(weight)] = {
                "held_out_corrections_macro_f1": round(metrics["macro_f1"], 4),
                "held_out_corrections_accuracy": round(metrics["accuracy"], 4),
                "kaggle_val_macro_f1": round(result.val_metrics["macro_f1"], 4),
            }
        chosen = max(WEIGHTS, key=lambda w: (sweep[str(w)]["held_out_corrections_macro_f1"], -w))
        params = with_feedback.model_copy(
            update={"feedback": with_feedback.feedback.model_copy(update={"weight": chosen})}
        )
        retrain_started = time.perf_counter()
        second = stage_train("tfidf", layout, params)
        timings["retrain_s"] = round(time.perf_counter() - retrain_started, 1)
        promotion = stage_promote(layout, params)
        switch_s = None
        if promotion["promoted"]:
            switch_s = round(wait_for_version(urls["tfidf"], str(second.registered_version)), 1)
        timings["loop_wall_s"] = round(time.perf_counter() - loop_started, 1)
        after = per_language(classify_all(urls["eval_agent"], held_out.text.tolist()), held_out)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)

    result = {
        "command": "python -m benchmarks.feedback_loop"
        + (f" --budget {args.budget}" if args.budget != 600 else "")
        + (f" --handler-share {args.handler_share}" if args.handler_share != 0.15 else ""),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "week": {"tickets": len(week), "languages": week.language.value_counts().to_dict()},
        "week_accuracy_first_model": week_accuracy,
        "review": review,
        "handlers": handlers,
        "corrected_languages": corrected_languages,
        "export": export.as_dict(),
        "data_report": {
            key: getattr(report, key)
            for key in (
                "feedback_rows",
                "feedback_train",
                "feedback_test",
                "feedback_dropped_in_test",
            )
        },
        "weight_sweep": sweep,
        "chosen_weight": chosen,
        "promotion": promotion,
        "versions": {"first": first.registered_version, "second": second.registered_version},
        "switch_after_promotion_s": switch_s,
        "held_out_slice": {
            "file": str(HELD_OUT.relative_to(PROJECT_ROOT)),
            "tickets": len(held_out),
        },
        "held_out_accuracy_before": before,
        "held_out_accuracy_after": after,
        "kaggle_test_macro_f1": {
            "first": first_kaggle,
            "second": kaggle_f1(second.model_dir, test, base),
        },
        "timings": timings,
    }
    print(json.dumps(result, indent=2))
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "feedback_loop.json").write_text(json.dumps(result, indent=2) + "\n")
    render_report()


if __name__ == "__main__":
    main()

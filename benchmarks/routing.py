"""Tune the agent's routing thresholds on the validation split; report them on the test split.

Both served models (``models/tfidf`` and ``models/transformer``, from ``dvc repro``) classify
the validation split (Kaggle and natural tickets), the test split and the natural evaluation set
once; the routing policy (:mod:`callcenterai.agent.routing`, the code the agent runs) is then
replayed on those predictions for every point of a grid (languages TF-IDF may answer, confidence
and complexity thresholds). The default is the point with the best validation criterion, the
mean of the Kaggle and the natural validation macro-F1, within the budget (``--budget``, share
of English tickets sent to the transformer). The test split and the evaluation set are scored
once, for the chosen policy only; the evaluation set per language and per variety, with
bootstrap intervals and the calibration error of the agent's confidence.

Run ``python -m benchmarks.routing``; writes ``reports/benchmarks/routing.json`` and
re-renders ``reports/benchmark.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

from benchmarks.report import REPORT_DIR, render_report
from callcenterai.agent.routing import TFIDF, TRANSFORMER, route_offline
from callcenterai.agent.ticket import Scrubbed
from callcenterai.config import PROJECT_ROOT, RoutingSettings, Settings
from callcenterai.data import read_split
from callcenterai.evaluate import bootstrap_intervals, expected_calibration_error
from callcenterai.models.base import top_labels
from callcenterai.models.store import load_classifier

CONFIDENCE_GRID = [round(x, 2) for x in np.arange(0.40, 1.001, 0.05)]
COMPLEXITY_GRID = [0.5, 0.6, 0.7, 0.8, 0.9, 1.01]
# Languages TF-IDF may answer: English only (its first training data), or all three now that it
# is trained on natural French and Arabic tickets too.
LANGUAGE_SETS = [("en",), ("en", "fr", "ar")]


# When both answered: the more confident answer, or a weighted vote of both models' probabilities
# (the weight on the transformer's).
ANSWER_RULES = [("most_confident", 0.5)] + [
    ("weighted_vote", weight) for weight in (0.3, 0.4, 0.5, 0.6, 0.7)
]
BLEND_WEIGHTS = [round(float(x), 1) for x in np.arange(0.0, 1.001, 0.1)]


def score_frame(frame: pd.DataFrame, models: dict) -> pd.DataFrame:
    """Signals and both models' answers for every ticket, as the agent would see it."""
    settings = Settings()
    rows = []
    for text in frame["text"].tolist():
        scrubbed = Scrubbed(
            text, settings.pii_person_names
        )  # exactly what the agent does before routing
        rows.append((scrubbed.text, scrubbed.signals))
    scored = frame.reset_index(drop=True).copy()
    scored["signals"] = [signals for _, signals in rows]
    texts = [scrubbed for scrubbed, _ in rows]
    labels = sorted(next(iter(models.values())).labels)
    for kind, model in models.items():
        probabilities = model.predict_proba(texts)
        scored[f"{kind}_label"], scored[f"{kind}_confidence"] = top_labels(
            probabilities, model.labels
        )
        order = [list(model.labels).index(label) for label in labels]
        scored.attrs[f"{kind}_probabilities"] = np.asarray(probabilities)[:, order]
        scored[f"{kind}_probabilities"] = [
            dict(zip(labels, map(float, row))) for row in scored.attrs[f"{kind}_probabilities"]
        ]
    scored.attrs["labels"] = labels
    return scored


def replay(scored: pd.DataFrame, policy: RoutingSettings) -> tuple[list[str], np.ndarray]:
    labels, consulted = [], []
    for row in scored.itertuples():
        model, called = route_offline(
            row.signals, row.tfidf_probabilities, row.transformer_probabilities, policy
        )
        labels.append(getattr(row, f"{model}_label"))
        consulted.append(called)
    return labels, np.asarray(consulted)


def _scores(truth, predicted) -> dict:
    return {
        "macro_f1": round(float(f1_score(truth, predicted, average="macro")), 4),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
    }


def paired_bootstrap(truth, agent, other, rounds: int = 1000, seed: int = 0) -> dict:
    """95 % interval of macro-F1(agent) - macro-F1(other), resampling tickets with replacement."""
    rng = np.random.default_rng(seed)
    truth, agent, other = (np.asarray(x) for x in (truth, agent, other))
    differences = []
    for _ in range(rounds):
        index = rng.integers(0, len(truth), len(truth))
        differences.append(
            f1_score(truth[index], agent[index], average="macro")
            - f1_score(truth[index], other[index], average="macro")
        )
    low, high = np.percentile(differences, [2.5, 97.5])
    return {
        "low": round(float(low), 4),
        "high": round(float(high), 4),
        "share_positive": round(float(np.mean(np.asarray(differences) > 0)), 3),
    }


def side_by_side(scored: pd.DataFrame, policy: RoutingSettings, bootstrap: bool = False) -> dict:
    truth = scored["label"].tolist()
    agent, consulted = replay(scored, policy)
    english = np.asarray([s.language == "en" for s in scored["signals"]])
    intervals = {}
    if bootstrap:
        intervals = {
            f"agent_minus_{kind}": paired_bootstrap(truth, agent, scored[f"{kind}_label"])
            for kind in (TFIDF, TRANSFORMER)
        }
    return {
        "bootstrap": intervals,
        "tfidf": _scores(truth, scored["tfidf_label"].tolist()),
        "transformer": _scores(truth, scored["transformer_label"].tolist()),
        "agent": _scores(truth, agent),
        "transformer_share": round(float(consulted.mean()), 4),
        "transformer_share_english": (
            round(float(consulted[english].mean()), 4) if english.any() else None
        ),
    }


def curve(scored: pd.DataFrame) -> list[dict]:
    """Every policy of the grid replayed on ``scored``; the criterion weighs the Kaggle and the
    natural tickets equally (the mean of their macro-F1), as the natural corpus weight was."""
    points = []
    truth = scored["label"].to_numpy()
    natural = (scored["source"] == "natural").to_numpy()
    english = np.asarray([s.language == "en" for s in scored["signals"]])
    for languages, confidence, complexity, (answer, weight) in itertools.product(
        LANGUAGE_SETS, CONFIDENCE_GRID, COMPLEXITY_GRID, ANSWER_RULES
    ):
        policy = RoutingSettings(
            tfidf_languages=languages,
            tfidf_min_confidence=confidence,
            complexity_threshold=complexity,
            answer=answer,
            vote_weight=weight,
        )
        agent, consulted = replay(scored, policy)
        agent = np.asarray(agent)
        kaggle_f1 = f1_score(truth[~natural], agent[~natural], average="macro")
        natural_f1 = f1_score(truth[natural], agent[natural], average="macro")
        points.append(
            {
                "tfidf_languages": list(languages),
                "tfidf_min_confidence": confidence,
                "complexity_threshold": complexity,
                "answer": answer,
                "vote_weight": weight,
                "transformer_share": round(float(consulted.mean()), 4),
                "transformer_share_english": round(float(consulted[english].mean()), 4),
                **_scores(truth, agent),
                "kaggle_macro_f1": round(float(kaggle_f1), 4),
                "natural_macro_f1": round(float(natural_f1), 4),
                "criterion": round(float((kaggle_f1 + natural_f1) / 2), 4),
            }
        )
    return points


def choose(points: list[dict], budget: float) -> dict:
    within = [p for p in points if p["transformer_share_english"] <= budget]
    return max(within, key=lambda p: (p["criterion"], -p["transformer_share"]))


def agent_confidences(scored: pd.DataFrame, policy: RoutingSettings) -> np.ndarray:
    """The confidence the agent returns: that of the model whose answer it returns."""
    confidences = []
    for row in scored.itertuples():
        model, _ = route_offline(
            row.signals, row.tfidf_probabilities, row.transformer_probabilities, policy
        )
        confidences.append(getattr(row, f"{model}_confidence"))
    return np.asarray(confidences)


def per_group(scored: pd.DataFrame, policy: RoutingSettings, column: str) -> dict:
    """Accuracy of each model and of the agent per language (or variety), with the agent's
    macro-F1 and 95 % bootstrap intervals, and the calibration error of its confidence."""
    agent, _ = replay(scored, policy)
    scored = scored.assign(agent_label=agent, agent_confidence=agent_confidences(scored, policy))
    result = {}
    for value, group in scored.groupby(column):
        detected = [s.language for s in group["signals"]]
        correct = (group["agent_label"] == group["label"]).to_numpy()
        result[value] = {
            "tickets": len(group),
            "detected_correctly": round(
                float(np.mean([d == code for d, code in zip(detected, group["language"])])), 3
            ),
            **{
                kind: round(float(np.mean(group[f"{kind}_label"] == group["label"])), 3)
                for kind in (TFIDF, TRANSFORMER, "agent")
            },
            "agent_macro_f1": round(
                float(f1_score(group["label"], group["agent_label"], average="macro")), 3
            ),
            **{
                f"agent_{key}": value
                for key, value in bootstrap_intervals(group["label"], group["agent_label"]).items()
            },
            "agent_ece": round(
                expected_calibration_error(group["agent_confidence"].to_numpy()[:, None], correct),
                3,
            ),
        }
    return result


def blended(scored: pd.DataFrame, weight: float) -> np.ndarray:
    """Both models always answer; the label with the highest weighted mean probability
    (``weight`` on the transformer) is the answer. An analysis, not an agent rule yet."""
    mixed = (
        weight * scored.attrs[f"{TRANSFORMER}_probabilities"]
        + (1 - weight) * scored.attrs[f"{TFIDF}_probabilities"]
    )
    return np.asarray(scored.attrs["labels"])[mixed.argmax(axis=1)]


def blend_analysis(val: pd.DataFrame, test: pd.DataFrame, multilingual: pd.DataFrame) -> dict:
    """Weight chosen on validation by the routing criterion; test and evaluation set scored once."""
    truth = val["label"].to_numpy()
    natural = (val["source"] == "natural").to_numpy()
    curve_points = []
    for weight in BLEND_WEIGHTS:
        answer = blended(val, weight)
        kaggle_f1 = f1_score(truth[~natural], answer[~natural], average="macro")
        natural_f1 = f1_score(truth[natural], answer[natural], average="macro")
        curve_points.append(
            {
                "weight": weight,
                "kaggle_macro_f1": round(float(kaggle_f1), 4),
                "natural_macro_f1": round(float(natural_f1), 4),
                "criterion": round(float((kaggle_f1 + natural_f1) / 2), 4),
            }
        )
    best = max(curve_points, key=lambda point: point["criterion"])
    answer = blended(test, best["weight"])
    tested = test["label"].tolist()
    eval_answer = blended(multilingual, best["weight"])
    return {
        "weight": best["weight"],
        "validation_curve": curve_points,
        "test": _scores(tested, answer),
        "test_bootstrap": {
            f"blend_minus_{kind}": paired_bootstrap(tested, answer, test[f"{kind}_label"])
            for kind in (TFIDF, TRANSFORMER)
        },
        "multilingual_accuracy": {
            language: round(float(np.mean(eval_answer[group.index] == group["label"])), 3)
            for language, group in multilingual.groupby("language")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processed", type=Path, default=PROJECT_ROOT / "data" / "processed")
    parser.add_argument(
        "--multilingual", type=Path, default=PROJECT_ROOT / "data/eval/multilingual_tickets.csv"
    )
    parser.add_argument("--models", type=Path, default=PROJECT_ROOT / "models")
    parser.add_argument("--budget", type=float, default=0.30)
    args = parser.parse_args()

    models = {kind: load_classifier(args.models / kind) for kind in (TFIDF, TRANSFORMER)}
    val = score_frame(read_split(args.processed / "val.csv"), models)
    test = score_frame(read_split(args.processed / "test.csv"), models)
    multilingual = score_frame(
        pd.read_csv(args.multilingual, dtype=str, keep_default_na=False), models
    )

    points = curve(val)
    chosen = choose(points, args.budget)
    policy = RoutingSettings(
        tfidf_languages=tuple(chosen["tfidf_languages"]),
        tfidf_min_confidence=chosen["tfidf_min_confidence"],
        complexity_threshold=chosen["complexity_threshold"],
        answer=chosen["answer"],
        vote_weight=chosen["vote_weight"],
    )
    result = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.routing" + (f" --budget {args.budget}"),
        "machine": {"cpus": os.cpu_count()},
        "budget_english_share": args.budget,
        "chosen": chosen,
        "answer_rule": policy.answer,
        "validation": side_by_side(val, policy),
        "test": side_by_side(test, policy, bootstrap=True),
        "curve": points,
        "multilingual": per_group(multilingual, policy, "language"),
        "multilingual_varieties": per_group(multilingual, policy, "variety"),
        "blend": blend_analysis(val, test, multilingual),
        "rows": {"val": len(val), "test": len(test), "multilingual": len(multilingual)},
    }
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "routing.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("chosen", "validation", "test")}, indent=2))
    print(json.dumps(result["multilingual"], indent=2))
    print(json.dumps({k: v for k, v in result["blend"].items() if k != "validation_curve"}))
    render_report()


if __name__ == "__main__":
    main()

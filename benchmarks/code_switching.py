"""Code-switching augmentation for cross-lingual transfer, measured on TF-IDF.

The literature's cheap answer to little target-language data (e.g. CoSDA-ML, Qin et al. 2020):
copy source-language training tickets and replace some of their words with their translations
from a bilingual dictionary, so the model sees target-language words in every category. Here the
Kaggle English tickets are code-switched into French and Arabic with the project's glossary
(``data/natural/glossary.csv``, written for the project) and added to Kaggle + natural corpus
training. Candidates are chosen on the validation split only (the mean of the Kaggle validation
macro-F1 and the natural validation macro-F1, as ``benchmarks.natural``); the chosen one and the
baseline are then measured once on the natural evaluation set and the Kaggle test split.

Run after ``dvc repro`` with ``python -m benchmarks.code_switching``. Writes
``reports/benchmarks/code_switching.json`` and re-renders ``reports/benchmark.md``.
"""

from __future__ import annotations

import csv
import json
import os
import random
import time
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from benchmarks.natural import language_scores
from benchmarks.report import REPORT_DIR, render_report
from callcenterai.config import PROJECT_ROOT, load_params
from callcenterai.data import LANGUAGE, SOURCE, read_split
from callcenterai.evaluate import evaluate_frame, load_eval_data
from callcenterai.models.tfidf import TfidfClassifier
from callcenterai.pipeline import Layout
from callcenterai.train import sample_weights

GLOSSARY = PROJECT_ROOT / "data" / "natural" / "glossary.csv"


def read_glossary() -> dict[str, dict[str, str]]:
    with GLOSSARY.open(encoding="utf-8", newline="") as handle:
        return {row["en"]: {"fr": row["fr"], "ar": row["ar"]} for row in csv.DictReader(handle)}


def code_switch(text: str, glossary: dict, language: str, rate: float, rng: random.Random) -> str:
    """Each glossary word of ``text`` is replaced by its ``language`` translation with
    probability ``rate``; the other words stay English."""
    words = text.split()
    return " ".join(
        glossary[w][language] if w in glossary and rng.random() < rate else w for w in words
    )


def augmented(train: pd.DataFrame, glossary: dict, copies: int, rate: float, seed: int):
    """``copies`` code-switched Kaggle tickets per target language (French, Arabic)."""
    rng = random.Random(seed)  # nosec B311 - data augmentation, not security
    kaggle = train[train[SOURCE] != "natural"]
    rows = []
    for language in ("fr", "ar"):
        for _, row in kaggle.sample(copies, random_state=seed).iterrows():
            switched = code_switch(row["text"], glossary, language, rate, rng)
            if switched != row["text"]:
                rows.append({"text": switched, "label": row["label"], LANGUAGE: language})
    return pd.DataFrame(rows).assign(**{SOURCE: "code_switched"})


def fit(train: pd.DataFrame, params) -> tuple[TfidfClassifier, float]:
    weights = sample_weights(train, params)
    started = time.perf_counter()
    model = TfidfClassifier.train(
        train["text"], train["label"], params.tfidf, params.data.seed, sample_weight=weights
    )
    return model, time.perf_counter() - started


def main() -> None:
    params = load_params()
    short = params.data.short_ticket_words
    layout = Layout(PROJECT_ROOT)
    train, val = read_split(layout.split("train")), read_split(layout.split("val"))
    test = read_split(layout.split("test"))
    natural_eval, _ = load_eval_data(params.natural.path("eval"), params.data)
    glossary = read_glossary()
    val_natural, val_kaggle = val[val[SOURCE] == "natural"], val[val[SOURCE] != "natural"]

    candidates, models = [], {}
    for copies, rate in ((0, 0.0), (2000, 0.3), (2000, 0.6), (6000, 0.3), (6000, 0.6)):
        extra = augmented(train, glossary, copies, rate, params.data.seed) if copies else None
        data = train if extra is None else pd.concat([train, extra], ignore_index=True)
        model, seconds = fit(data, params)
        kaggle_val, _ = evaluate_frame(model, val_kaggle, short)
        natural_val, _ = evaluate_frame(model, val_natural, short)
        candidates.append(
            {
                "copies_per_language": copies,
                "rate": rate,
                "added_rows": 0 if extra is None else len(extra),
                "train_seconds": round(seconds, 1),
                "kaggle_val_macro_f1": kaggle_val["macro_f1"],
                "natural_val_macro_f1": natural_val["macro_f1"],
                "natural_val_languages": language_scores(natural_val),
                "criterion": (kaggle_val["macro_f1"] + natural_val["macro_f1"]) / 2,
            }
        )
        models[(copies, rate)] = model
        print(json.dumps(candidates[-1]), flush=True)
    best = max(candidates, key=lambda c: c["criterion"])
    measured = {}
    for name, key in (
        ("baseline", (0, 0.0)),
        ("chosen", (best["copies_per_language"], best["rate"])),
    ):
        test_metrics, _ = evaluate_frame(models[key], test, short)
        eval_metrics, _ = evaluate_frame(models[key], natural_eval, short)
        measured[name] = {
            "copies_per_language": key[0],
            "rate": key[1],
            "kaggle_test_macro_f1": test_metrics["macro_f1"],
            "natural_eval_accuracy": eval_metrics["accuracy"],
            "natural_eval_languages": language_scores(eval_metrics),
        }
    example_rng = random.Random(0)  # nosec B311
    example = train[train[SOURCE] != "natural"]["text"].iloc[0]
    result = {
        "command": "python -m benchmarks.code_switching",
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "glossary_terms": len(glossary),
        "glossary_coverage": float(
            np.mean([any(w in glossary for w in t.split()) for t in train["text"]])
        ),
        "example": {
            "kaggle": example,
            "fr_0.6": code_switch(example, glossary, "fr", 0.6, example_rng),
            "ar_0.6": code_switch(example, glossary, "ar", 0.6, example_rng),
        },
        "criterion": "mean of Kaggle validation macro-F1 and natural validation macro-F1",
        "candidates": candidates,
        "chosen": {"copies_per_language": best["copies_per_language"], "rate": best["rate"]},
        "measured": measured,
    }
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "code_switching.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(measured, indent=2))
    print(render_report())


if __name__ == "__main__":
    main()

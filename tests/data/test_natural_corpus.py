"""The natural-ticket corpus and the evaluation set: checked by code before anything trains.

The committed files must pass every check; each kind of defect (a broken label, a wrong
language, a leaked evaluation ticket, a near duplicate) must be caught.
"""

from __future__ import annotations

import pandas as pd
import pytest

from callcenterai.config import PROJECT_ROOT
from callcenterai.corpus import EVAL_COLUMNS, check_corpus, read_table
from callcenterai.sample import LABELS

CORPUS = PROJECT_ROOT / "data" / "natural" / "tickets.csv"
EVAL = PROJECT_ROOT / "data" / "eval" / "multilingual_tickets.csv"


@pytest.fixture(scope="module")
def committed_report():
    return check_corpus(CORPUS, EVAL, LABELS)


def test_committed_corpus_passes_every_check(committed_report):
    assert committed_report.problems == []
    assert committed_report.rows >= 8 * 3 * 150
    assert set(committed_report.varieties) == {"standard", "msa", "maghrebi", "maghrebi-latin"}
    assert set(committed_report.channels) == {"email", "chat", "phone"}
    assert committed_report.max_similarity_to_eval < 0.8


def test_evaluation_set_has_30_tickets_per_label_and_language():
    evaluation = read_table(EVAL, EVAL_COLUMNS)
    counts = evaluation.groupby(["label", "language"]).size()
    assert len(counts) == 8 * 3 and counts.min() >= 30
    assert not evaluation["text"].duplicated().any()


def _mutated(tmp_path, change) -> tuple:
    corpus = pd.read_csv(CORPUS, dtype=str, keep_default_na=False)
    corpus = change(corpus)
    path = tmp_path / "tickets.csv"
    corpus.to_csv(path, index=False)
    return check_corpus(path, EVAL, LABELS).problems


def test_a_broken_label_is_caught(tmp_path):
    def change(corpus):
        corpus.loc[3, "label"] = "Hardwares"
        return corpus

    problems = _mutated(tmp_path, change)
    assert any("labels not in the label set: Hardwares" in p for p in problems)


def test_a_wrong_language_is_caught(tmp_path):
    def change(corpus):
        english = corpus.index[(corpus["language"] == "en")][0]
        corpus.loc[english, "language"] = "fr"
        return corpus

    problems = _mutated(tmp_path, change)
    assert any("declared fr, detected en" in p for p in problems)


def test_a_leaked_evaluation_ticket_is_caught(tmp_path):
    leaked = read_table(EVAL, EVAL_COLUMNS).iloc[5]

    def change(corpus):
        text = leaked["text"].replace(".", " please.", 1)  # a lightly edited copy
        row = {**corpus.iloc[0].to_dict(), "text": text, "label": leaked["label"]}
        row.update(language=leaked["language"])
        row["variety"] = "standard" if leaked["language"] != "ar" else "msa"
        return pd.concat([corpus, pd.DataFrame([row])], ignore_index=True)

    problems = _mutated(tmp_path, change)
    assert any("close to evaluation ticket 5" in p for p in problems)


def test_a_near_duplicate_and_a_length_are_caught(tmp_path):
    def change(corpus):
        copy = corpus.iloc[[10]].copy()
        copy["text"] = copy["text"] + " Thanks"
        short = corpus.iloc[[11]].copy()
        short["text"] = "laptop broken"
        return pd.concat([corpus, copy, short], ignore_index=True)

    problems = _mutated(tmp_path, change)
    assert any("near duplicates" in p and "rows 10 and" in p for p in problems)
    assert any("2 words, not 5-150" in p for p in problems)

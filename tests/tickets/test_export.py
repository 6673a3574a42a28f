"""Corrections as a training dataset: the cumulative export, its command, and how the prepare
stage merges them (held-out share stable by ticket id, test texts never trained on, weights)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pandas as pd
import pytest

from callcenterai.config import Params
from callcenterai.data import FEEDBACK_TEST, is_held_out, read_split
from callcenterai.pipeline import Layout, stage_prepare
from callcenterai.sample import LABELS
from callcenterai.tickets.export import COLUMNS, export_corrections, read_corrections
from callcenterai.tickets.store import TicketStore, now
from callcenterai.train import sample_weights
from tests.tickets.rows import ticket_row


def all_labels(**extra) -> dict:
    probabilities = {label: 1 / len(LABELS) for label in LABELS}
    return ticket_row(probabilities=probabilities, **extra)


def corrected_store(url: str, corrections: list[tuple[str, str]], **extra) -> list[str]:
    """A store holding tickets with these (text, correct label) pairs; their ids."""
    store = TicketStore(url)
    store.migrate()
    rows = [all_labels(text=text, **extra) for text, _ in corrections]
    store.add(rows)
    for row, (_, label) in zip(rows, corrections):
        store.correct(row["id"], label)
    store.close()
    return [row["id"] for row in rows]


def test_export_is_cumulative_and_follows_relabelling(tmp_path):
    url, output = f"sqlite:///{tmp_path / 'tickets.db'}", tmp_path / "out" / "corrections.csv"
    old = corrected_store(
        url, [("mot de passe oublié", "Access")], created_at=now() - timedelta(40)
    )
    recent = corrected_store(url, [("écran noir", "Hardware"), ("salaire", "HR Support")])

    report = export_corrections(url, output)
    assert (report.corrections, report.new, report.kept_from_earlier) == (3, 3, 0)
    frame = read_corrections(output)
    assert list(frame.columns) == COLUMNS and frame["ticket_id"].tolist() == old + recent
    assert frame.loc[0, "predicted"] == "Hardware" and frame.loc[0, "label"] == "Access"

    store = TicketStore(url)
    store.purge(now() - timedelta(days=30))  # retention deletes the old ticket
    store.correct(recent[1], "Purchase")  # and someone changes their mind
    store.close()
    report = export_corrections(url, output)
    assert (report.from_store, report.new, report.relabelled, report.kept_from_earlier) == (
        2,
        0,
        1,
        1,
    )
    frame = read_corrections(output)
    assert frame["ticket_id"].tolist() == old + recent  # the purged correction stays
    assert frame.set_index("ticket_id").loc[recent[1], "label"] == "Purchase"


def test_export_without_a_store_writes_an_empty_dataset(tmp_path):
    db = tmp_path / "never" / "tickets.db"
    report = export_corrections(f"sqlite:///{db}", tmp_path / "corrections.csv")
    assert report.corrections == 0 and not db.exists()  # no database created by a read
    assert read_corrections(tmp_path / "corrections.csv").empty


def test_a_file_that_is_not_an_export_is_refused(tmp_path):
    bad = tmp_path / "corrections.csv"
    bad.write_text("text,label\nhello,Access\n")
    with pytest.raises(Exception, match="not a corrections export"):
        read_corrections(bad)


def test_export_command(tmp_path):
    url = f"sqlite:///{tmp_path / 'tickets.db'}"
    corrected_store(url, [("need a new laptop bag", "Purchase")])
    output = tmp_path / "data" / "feedback" / "corrections.csv"
    result = subprocess.run(
        [sys.executable, "-m", "callcenterai", "feedback", "export", "--store-url", url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["corrections"] == 1
    assert read_corrections(output)["label"].tolist() == ["Purchase"]


def test_held_out_corrections_are_stable_by_ticket_id():
    ids = [f"{i:032x}" for i in range(2000)]
    held = [i for i in ids if is_held_out(i, 0.2)]
    assert 0.17 < len(held) / len(ids) < 0.23
    assert held == [i for i in ids if is_held_out(i, 0.2)]  # same answer every time
    assert not any(is_held_out(i, 0.0) for i in ids)


def test_prepare_merges_corrections(tmp_path, sample_csv):
    layout = Layout(tmp_path)
    params = Params.model_validate(
        {
            "data": {"input": str(sample_csv)},
            "feedback": {"corrections": "data/feedback/corrections.csv", "holdout": 0.3},
        }
    )
    test_text = pd.read_csv(sample_csv)["Document"].iloc[0]
    texts = [(f"ticket corrigé {'z' * (i + 2)} sur mon poste", LABELS[i % 8]) for i in range(40)]
    url = f"sqlite:///{tmp_path / 'tickets.db'}"
    ids = corrected_store(url, texts + [("", "Access")])
    export_corrections(url, tmp_path / "data" / "feedback" / "corrections.csv")

    report = stage_prepare(sample_csv, layout, params)
    assert report.feedback_rows == 41 and report.feedback_train + report.feedback_test == 40
    held = {i for i in ids[:40] if is_held_out(i, 0.3)}
    feedback_test = pd.read_csv(layout.processed / FEEDBACK_TEST)
    assert set(feedback_test["ticket_id"]) == held and len(held) == report.feedback_test
    train = pd.read_csv(layout.split("train"))
    from_feedback = train[train["source"] == "feedback"]
    assert len(from_feedback) == report.feedback_train
    assert not set(from_feedback["text"]) & set(feedback_test["text"])
    weights = sample_weights(train, params)
    assert set(weights[train["source"] == "feedback"]) == {params.feedback.weight}
    assert set(weights[train["source"] == "kaggle"]) == {1.0}

    # A corrected ticket whose text is a test ticket's never trains (it would leak).
    test_split = pd.read_csv(layout.split("test"))
    leaked = test_split["text"].iloc[0]
    corrected_store(url, [(leaked, test_split["label"].iloc[0])])
    export_corrections(url, tmp_path / "data" / "feedback" / "corrections.csv")
    report = stage_prepare(sample_csv, layout, params)
    assert report.feedback_dropped_in_test == 1
    assert leaked not in set(pd.read_csv(layout.split("train"))["text"])
    assert test_text  # the sample has text


def test_no_corrections_yet_is_an_empty_held_out_set(tmp_path, sample_csv):
    """A fresh clone: no export yet. prepare writes an empty feedback_test.csv, and reading it
    (promotion, evaluation) is zero tickets, not an error."""
    layout = Layout(tmp_path)
    params = Params.model_validate(
        {"data": {"input": str(sample_csv)}, "feedback": {"corrections": "data/feedback/c.csv"}}
    )
    report = stage_prepare(sample_csv, layout, params)
    assert report.feedback_rows == 0
    assert len(read_split(layout.processed / FEEDBACK_TEST)) == 0

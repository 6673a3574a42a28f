import os
from pathlib import Path

import pandas as pd
import pytest

from callcenterai.config import DataParams
from callcenterai.data import (
    load_tickets,
    prepare,
    read_csv,
    read_split,
    resolve_columns,
    split_tickets,
)
from callcenterai.errors import DataError
from callcenterai.sample import LABELS
from tests.conftest import SUPPORT_EN_CSV


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="input file not found"):
        load_tickets(tmp_path / "nope.csv", ["Document"], "Topic_group")


def test_missing_columns_names_them_and_the_available_ones(tmp_path):
    path = write(tmp_path, "text,category\nhello,A\n")
    with pytest.raises(DataError) as error:
        load_tickets(path, ["Document"], "Topic_group")
    message = str(error.value)
    assert "Document, Topic_group" in message and "text, category" in message
    assert "\n" not in message


def test_non_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("Document,Topic_group\nécran cassé,Hardware\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8.*byte 0xe9"):
        load_tickets(path, ["Document"], "Topic_group")


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match="is empty"):
        load_tickets(write(tmp_path, ""), ["Document"], "Topic_group")


def test_malformed_csv(tmp_path):
    path = write(tmp_path, 'Document,Topic_group\n"unterminated,Hardware\n')
    with pytest.raises(DataError, match="not a well-formed CSV"):
        load_tickets(path, ["Document"], "Topic_group")


def test_nothing_usable_is_an_error(tmp_path):
    path = write(tmp_path, "Document,Topic_group\n123,Hardware\n ,Access\n")
    with pytest.raises(DataError, match="no usable tickets"):
        load_tickets(path, ["Document"], "Topic_group")


def test_cleaning_counts_every_dropped_row(tmp_path):
    rows = [
        ("printer broken", "Hardware"),
        ("Printer broken!", "Hardware"),  # duplicate after normalisation
        ("need access", "Access"),
        ("Need ACCESS.", "Purchase"),  # conflicts with the row above: both dropped
        ("42", "Access"),  # empty after normalisation
        ("new laptop please", ""),  # empty label
        ("reset my password", "Access"),
    ]
    path = tmp_path / "t.csv"
    pd.DataFrame(rows, columns=["Document", "Topic_group"]).to_csv(path, index=False)
    frame, report = load_tickets(path, ["Document"], "Topic_group")
    assert report.rows_read == 7
    assert report.empty_text_dropped == 1
    assert report.empty_label_dropped == 1
    assert report.conflicting_label_dropped == 2
    assert report.duplicate_text_dropped == 1
    assert report.rows_kept == len(frame) == 2
    assert sorted(frame["text"]) == ["printer broken", "reset my password"]
    assert report.label_counts == {"Hardware": 1, "Access": 1}


def test_rare_labels_are_dropped_and_counted(tmp_path):
    rows = [(f"ticket number {word}", "Big") for word in "abcdef"] + [("lonely one", "Rare")]
    path = tmp_path / "t.csv"
    pd.DataFrame(rows, columns=["Document", "Topic_group"]).to_csv(path, index=False)
    frame, report = load_tickets(path, ["Document"], "Topic_group", min_per_label=5)
    assert report.rare_label_dropped == 1
    assert set(frame["label"]) == {"Big"}


def test_text_columns_are_joined_and_empty_parts_skipped(tmp_path):
    path = write(tmp_path, "subject,body,queue\nVPN down,Cannot connect,IT\n,Only body,IT\n")
    frame = read_csv(path, ["subject", "body"], "queue")
    assert frame["text"].tolist() == ["VPN down Cannot connect", "Only body"]


def test_evaluation_loading_keeps_duplicates(tmp_path):
    path = write(tmp_path, "Document,Topic_group\nsame text,A\nsame text,A\n")
    frame, report = load_tickets(path, ["Document"], "Topic_group", deduplicate=False)
    assert len(frame) == 2 and report.duplicate_text_dropped == 0


def test_prepared_splits_are_recognised_by_their_columns(tmp_path):
    assert resolve_columns(write(tmp_path, "text,label\na,b\n"), DataParams()) == (
        ["text"],
        "label",
    )
    raw = write(tmp_path, "Document,Topic_group\na,b\n", "raw.csv")
    assert resolve_columns(raw, DataParams()) == (["Document"], "Topic_group")


def test_split_is_stratified_and_seeded(sample_csv):
    frame, _ = load_tickets(sample_csv, ["Document"], "Topic_group")
    params = DataParams(val_size=0.1, test_size=0.2, seed=7)
    first, second = split_tickets(frame, params), split_tickets(frame, params)
    for name in ("train", "val", "test"):
        assert first[name].index.equals(second[name].index)
    shares = {n: s["label"].value_counts(normalize=True) for n, s in first.items()}
    assert (shares["train"] - shares["test"]).abs().max() < 0.03
    assert len(first["test"]) == pytest.approx(0.2 * len(frame), abs=2)


@pytest.mark.skipif(
    not SUPPORT_EN_CSV.exists() and not os.environ.get("CI"),
    reason="customer-support data not available",
)
def test_prepare_other_label_set_with_subject_and_body(tmp_path):
    params = DataParams(text_columns=["subject", "body"], label_column="queue")
    report = prepare(SUPPORT_EN_CSV, tmp_path / "out", tmp_path / "report.json", params)
    assert report.rows_read == 16338
    assert len(report.label_counts) == 10
    assert sum(report.split_sizes.values()) == report.rows_kept
    assert (tmp_path / "report.json").exists()


def test_natural_tickets_join_train_and_val_but_not_test(tmp_path, sample_csv):
    languages = ["en", "fr", "ar"] * 40
    natural = pd.DataFrame(
        {
            "text": [f"ticket number {i} about {label}" for i, label in enumerate(LABELS * 15)],
            "label": LABELS * 15,
            "language": languages,
        }
    )
    report = prepare(sample_csv, tmp_path, tmp_path / "report.json", DataParams(), natural, 0.25)
    splits = {name: read_split(tmp_path / f"{name}.csv") for name in ("train", "val", "test")}
    assert report.natural_rows == 120
    assert (splits["train"]["source"] == "natural").sum() == 90
    assert (splits["val"]["source"] == "natural").sum() == 30
    assert set(splits["test"]["source"]) == {"kaggle"}
    natural_val = splits["val"][splits["val"]["source"] == "natural"]
    assert set(natural_val["language"]) == {"en", "fr", "ar"}
    assert report.split_sizes["train"] == len(splits["train"])


def test_natural_tickets_are_weighted_in_training(tmp_path):
    from callcenterai.config import NaturalParams, Params
    from callcenterai.train import sample_weights  # noqa: E402 - imports MLflow

    params = Params(natural=NaturalParams(weight=3.0))
    train = pd.DataFrame({"text": ["a", "b", "c"], "label": ["x"] * 3})
    assert sample_weights(train, params) is None
    train["source"] = ["kaggle", "natural", "kaggle"]
    assert sample_weights(train, params).tolist() == [1.0, 3.0, 1.0]


def test_training_and_evaluation_texts_are_scrubbed_before_anything_sees_them(tmp_path, sample_csv):
    """Security review finding 9: personal data in training tickets (an e-mail seen twice, say)
    would become vocabulary stored in the model; every text is masked as the agent masks it."""
    from callcenterai.config import Params
    from callcenterai.evaluate import load_eval_data
    from callcenterai.models.tfidf import TfidfClassifier
    from callcenterai.pipeline import Layout, stage_prepare

    frame = pd.read_csv(sample_csv)
    rows = frame.index[::10]  # about 120 tickets, in every label and every split
    frame.loc[rows, "Document"] = (
        frame.loc[rows, "Document"] + " contact jdoe.private@example.com or +33 6 12 34 56 78."
    )
    # A signature, in the languages the agent's name engine covers (English, French).
    signed = [row for row in rows if frame.loc[row, "language"] in ("en", "fr")]
    frame.loc[signed, "Document"] = frame.loc[signed, "Document"] + " Regards, Margaret Thornbury"
    path = tmp_path / "with_pii.csv"
    frame.to_csv(path, index=False)

    layout = Layout(tmp_path / "work")
    report = stage_prepare(path, layout, Params())
    assert report.pii_masked_rows >= len(rows)
    for name in ("train", "val", "test"):
        text = (layout.processed / f"{name}.csv").read_text()
        assert "jdoe" not in text and "12 34 56 78" not in text, name
        assert "Thornbury" not in text, name  # the agent's name engine, too
        assert "[EMAIL]" in text and "[PERSON]" in text, name
    train = read_split(layout.processed / "train.csv")
    model = TfidfClassifier.train(train["text"], train["label"], Params().tfidf)
    vocabulary = model.pipeline.named_steps["features"].named_transformers_["tfidf"].vocabulary_
    assert not [term for term in vocabulary if "jdoe" in term or "private" in term]
    assert not [term for term in vocabulary if "thornbury" in term]
    evaluated, _ = load_eval_data(path, Params().data)
    assert not evaluated["text"].str.contains("jdoe|Thornbury").any()
    # data.scrub_names false: structured identifiers only (what the parameter trades away).
    evaluated, _ = load_eval_data(path, Params().data.model_copy(update={"scrub_names": False}))
    assert not evaluated["text"].str.contains("jdoe").any()
    assert evaluated["text"].str.contains("Thornbury").any()

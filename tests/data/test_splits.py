"""Data tests: the prepared splits have the schema, the label set and no leakage."""

import json

import pytest

from callcenterai.config import load_params
from callcenterai.data import LABEL, LANGUAGE, SOURCE, TEXT, read_split
from callcenterai.pipeline import Layout, stage_prepare
from callcenterai.sample import LABELS
from callcenterai.text import normalise_text
from tests.conftest import KAGGLE_CSV

KAGGLE_LABELS = set(LABELS)


def check_splits(layout: Layout, expected_labels: set[str]) -> dict:
    splits = {name: read_split(layout.split(name)) for name in ("train", "val", "test")}
    for name, split in splits.items():
        assert list(split.columns)[:2] == [TEXT, LABEL], name
        assert set(split.columns[2:]) <= {SOURCE, LANGUAGE}, name
        assert split[TEXT].str.len().min() > 0, name
        assert set(split[LABEL]) == expected_labels, name
    normalised = {name: set(split[TEXT].map(normalise_text)) for name, split in splits.items()}
    assert not normalised["train"] & normalised["val"]
    assert not normalised["train"] & normalised["test"]
    assert not normalised["val"] & normalised["test"]
    report = json.loads(layout.data_report.read_text())
    assert report["split_sizes"] == {name: len(split) for name, split in splits.items()}
    return report


def test_sample_splits(prepared):
    report = check_splits(prepared, KAGGLE_LABELS)
    assert report["duplicate_text_dropped"] > 0  # templates repeat; the loader must notice


@pytest.mark.slow
def test_kaggle_and_natural_splits(tmp_path):
    """The project's parameters: Kaggle tickets plus the natural corpus in train and val."""
    layout = Layout(tmp_path)
    report = stage_prepare(KAGGLE_CSV, layout, load_params())
    assert report.rows_read == 43053 and report.natural_rows == 3600
    check_splits(layout, KAGGLE_LABELS)
    test = read_split(layout.split("test"))
    assert set(test[SOURCE]) == {"kaggle"}

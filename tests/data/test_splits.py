"""Data tests: the prepared splits have the schema, the label set and no leakage."""

import json

import pytest

from callcenterai.config import Params
from callcenterai.data import LABEL, TEXT, read_split
from callcenterai.pipeline import Layout, stage_prepare
from callcenterai.sample import LABELS
from callcenterai.text import normalise_text
from tests.conftest import KAGGLE_CSV, needs_kaggle

KAGGLE_LABELS = set(LABELS)


def check_splits(layout: Layout, expected_labels: set[str]) -> dict:
    splits = {name: read_split(layout.split(name)) for name in ("train", "val", "test")}
    for name, split in splits.items():
        assert list(split.columns) == [TEXT, LABEL], name
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


@needs_kaggle
@pytest.mark.slow
def test_kaggle_splits(tmp_path):
    layout = Layout(tmp_path)
    report = stage_prepare(KAGGLE_CSV, layout, Params())
    assert report.rows_read == 43053
    check_splits(layout, KAGGLE_LABELS)

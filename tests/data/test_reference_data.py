"""The Kaggle tickets shipped in data/reference: checksum, schema, and a damaged copy refused."""

import hashlib
import lzma
import shutil

import pytest

from callcenterai.config import PROJECT_ROOT, load_params
from callcenterai.data import checksum_file, file_sha256, read_csv
from callcenterai.errors import DataError
from callcenterai.sample import LABELS
from tests.code.test_cli import run_cli
from tests.conftest import KAGGLE_CSV

UNCOMPRESSED_SHA256 = "d0b478f9a9e48152817298d1f59754bb1344ad25ab3e163cf9b3cde6ec4f1830"


def test_shipped_file_is_the_pipelines_default_input():
    assert PROJECT_ROOT / load_params().data.input == KAGGLE_CSV


def test_checksum_file_matches_and_the_content_is_the_documented_one():
    expected = checksum_file(KAGGLE_CSV).read_text().split()
    assert expected[1] == KAGGLE_CSV.name and file_sha256(KAGGLE_CSV) == expected[0]
    content = lzma.decompress(KAGGLE_CSV.read_bytes())
    assert hashlib.sha256(content).hexdigest() == UNCOMPRESSED_SHA256
    assert UNCOMPRESSED_SHA256 in (KAGGLE_CSV.parent / "README.md").read_text()


def test_schema_rows_and_labels():
    params = load_params().data
    frame = read_csv(KAGGLE_CSV, params.text_columns, params.label_column)
    assert len(frame) == 43053
    assert set(frame["label"]) == set(LABELS)
    assert (frame["text"].str.len() > 0).all()
    assert frame["label"].value_counts()["Hardware"] == 12255


def damaged_copy(tmp_path):
    copy = tmp_path / KAGGLE_CSV.name
    shutil.copy(KAGGLE_CSV, copy)
    shutil.copy(checksum_file(KAGGLE_CSV), checksum_file(copy))
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    return copy


def test_a_damaged_copy_is_refused(tmp_path):
    copy = damaged_copy(tmp_path)
    with pytest.raises(DataError, match="damaged or was changed.*git checkout"):
        read_csv(copy, ["Document"], "Topic_group")
    # Without its checksum file, the damage is still a one-line data error, not a trace.
    checksum_file(copy).unlink()
    with pytest.raises(DataError, match="cannot be decompressed as xz"):
        read_csv(copy, ["Document"], "Topic_group")


def test_a_damaged_copy_is_one_line_on_the_command_line(tmp_path):
    copy = damaged_copy(tmp_path)
    result = run_cli("prepare", "--input", str(copy), cwd=tmp_path, home=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "damaged or was changed" in errors[0]

"""Loading, cleaning and splitting ticket CSVs.

Every model reads tickets through :func:`load_tickets`, which returns a frame with two columns,
``text`` (the raw text, text columns joined) and ``label``. Cleaning decisions are counted in a
:class:`DataReport`, never made silently.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import json
import logging
import lzma
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from callcenterai.config import DataParams
from callcenterai.errors import DataError
from callcenterai.text import normalise_text

logger = logging.getLogger(__name__)

TEXT, LABEL = "text", "label"
# Kept beside text and label when a file has them: where a ticket comes from (kaggle, natural)
# and its language, for weighting in training and per-language evaluation.
SOURCE, LANGUAGE = "source", "language"
OPTIONAL_COLUMNS = (SOURCE, LANGUAGE)
SPLITS = ("train", "val", "test")
FEEDBACK_TEST = "feedback_test.csv"  # held-out corrections, beside the splits


@dataclass
class DataReport:
    """What happened to the rows of one input file. Holds counts and labels, never ticket text."""

    source: str
    sha256: str
    rows_read: int
    empty_text_dropped: int = 0
    empty_label_dropped: int = 0
    duplicate_text_dropped: int = 0
    conflicting_label_dropped: int = 0
    rare_label_dropped: int = 0
    rows_kept: int = 0
    label_counts: dict[str, int] = field(default_factory=dict)
    split_sizes: dict[str, int] = field(default_factory=dict)
    natural_rows: int = 0  # natural tickets added to train and val (see add_natural)
    # Corrections from the ticket store (see add_corrections).
    feedback_rows: int = 0
    feedback_train: int = 0
    feedback_test: int = 0
    feedback_dropped_duplicate: int = 0  # the same text corrected twice: the latest is kept
    feedback_dropped_in_test: int = 0  # the same text as a test ticket: never trained on
    pii_masked_rows: int = 0  # rows whose text had personal data masked (see load_tickets)

    def to_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_columns(path: Path, params: DataParams) -> tuple[list[str], str]:
    """Columns to read: the canonical ``text``/``label`` of prepared splits, else ``params``'."""
    header = _read_header(path)
    if TEXT in header and LABEL in header:
        return [TEXT], LABEL
    return list(params.text_columns), params.label_column


# Compressed CSVs are read as they are (the shipped reference data is xz-compressed).
_OPENERS = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}
_DECOMPRESSION_ERRORS = (lzma.LZMAError, EOFError, OSError, zlib.error)  # bz2: OSError


def _read_header(path: Path) -> list[str]:
    _check_file(path)
    opener = _OPENERS.get(path.suffix, open)
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            return next(csv.reader(handle), [])
    except UnicodeDecodeError as exc:
        raise _encoding_error(path, exc) from None
    except _DECOMPRESSION_ERRORS as exc:
        raise _decompression_error(path, exc) from None


def _decompression_error(path: Path, exc: Exception) -> Exception:
    if path.suffix not in _OPENERS:
        return exc  # an ordinary OSError (permissions, ...) of a plain file: not ours to reword
    return DataError(f"{path} cannot be decompressed as {path.suffix[1:]}: {exc}")


def checksum_file(path: Path) -> Path:
    """The ``<file>.sha256`` beside ``path`` (``sha256sum`` format); shipped data has one."""
    return path.with_name(path.name + ".sha256")


def verify_checksum(path: Path) -> None:
    """When ``path`` has a checksum file, its sha256 must match: a damaged or edited copy of the
    shipped data is refused in one line instead of being trained on."""
    expected_file = checksum_file(path)
    if not expected_file.exists():
        return
    expected = expected_file.read_text().split()[0].lower()
    actual = file_sha256(path)
    if actual != expected:
        raise DataError(
            f"{path} is damaged or was changed: its sha256 is {actual[:12]}..., "
            f"{expected_file.name} expects {expected[:12]}...; restore it (`git checkout -- "
            f"{path}`) or remove the checksum file if the change is meant"
        )


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"input file not found: {path}")
    if not path.is_file():
        raise DataError(f"input path is not a file: {path}")
    verify_checksum(path)


def _encoding_error(path: Path, exc: UnicodeDecodeError) -> DataError:
    return DataError(
        f"{path} is not UTF-8 (invalid byte 0x{exc.object[exc.start]:02x} at byte {exc.start}); "
        "re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`"
    )


def read_csv(path: Path, text_columns: Sequence[str], label_column: str) -> pd.DataFrame:
    """Read the needed columns of a UTF-8 CSV as strings; return a ``text``/``label`` frame
    (plus the optional ``source`` and ``language`` columns when the file has them)."""
    path = Path(path)
    _check_file(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _encoding_error(path, exc) from None
    except _DECOMPRESSION_ERRORS as exc:
        raise _decompression_error(path, exc) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty: expected a CSV with a header row") from None
    except pd.errors.ParserError as exc:
        first_line = str(exc).strip().splitlines()[-1]
        raise DataError(f"{path} is not a well-formed CSV: {first_line}") from None
    wanted = [*text_columns, label_column]
    missing = [column for column in wanted if column not in raw.columns]
    if missing:
        raise DataError(
            f"{path} lacks column(s) {', '.join(missing)}; "
            f"it has {', '.join(map(str, raw.columns))}. "
            "Choose columns with --text-column / --label-column or in params.yaml"
        )
    if raw.empty:  # a header and no rows (e.g. no held-out corrections yet)
        text = pd.Series([], dtype=str, index=raw.index)
    else:
        text = raw[list(text_columns)].apply(
            lambda row: " ".join(v.strip() for v in row if v), axis=1
        )
    frame = pd.DataFrame(
        {TEXT: text.astype(str), LABEL: raw[label_column].str.strip()}, index=raw.index
    )
    for column in OPTIONAL_COLUMNS:
        if column in raw.columns and column not in (*text_columns, label_column):
            frame[column] = raw[column].str.strip()
    return frame


def load_tickets(
    path: Path | str,
    text_columns: Sequence[str],
    label_column: str,
    *,
    deduplicate: bool = True,
    min_per_label: int = 1,
    scrub: Callable[[str], str] | None = None,
) -> tuple[pd.DataFrame, DataReport]:
    """Read and clean a ticket CSV.

    With ``scrub`` (the agent's PII scrubber), every text is masked first, before anything
    else sees it: a model learns and is measured on what the agent would send it, and an e-mail
    user name never becomes vocabulary stored in a model.
    Rows whose text is empty after normalisation or whose label is empty are dropped. With
    ``deduplicate`` (training data), texts that are equal after normalisation are kept once, and
    when they carry different labels all their rows are dropped, since no label can be trusted.
    Labels with fewer than ``min_per_label`` rows are dropped (a stratified split needs a few).
    Each drop is counted in the report.
    """
    path = Path(path)
    frame = read_csv(path, text_columns, label_column)
    report = DataReport(source=str(path), sha256=file_sha256(path), rows_read=len(frame))
    if scrub is not None:
        frame[TEXT], report.pii_masked_rows = scrub_texts(frame[TEXT], scrub)

    normalised = frame[TEXT].map(normalise_text)
    empty_text = normalised.str.len() == 0
    empty_label = frame[LABEL].str.len() == 0
    report.empty_text_dropped = int(empty_text.sum())
    report.empty_label_dropped = int((empty_label & ~empty_text).sum())
    keep = ~(empty_text | empty_label)
    frame, normalised = frame[keep], normalised[keep]

    if deduplicate:
        labels_per_text = frame.groupby(normalised)[LABEL].transform("nunique")
        conflicting = labels_per_text > 1
        report.conflicting_label_dropped = int(conflicting.sum())
        frame, normalised = frame[~conflicting], normalised[~conflicting]
        duplicate = normalised.duplicated(keep="first")
        report.duplicate_text_dropped = int(duplicate.sum())
        frame = frame[~duplicate]

    counts = frame[LABEL].value_counts()
    rare = counts[counts < min_per_label].index
    if len(rare):
        rare_rows = frame[LABEL].isin(rare)
        report.rare_label_dropped = int(rare_rows.sum())
        logger.warning(
            "dropped %d rows of %d labels with fewer than %d examples: %s",
            report.rare_label_dropped,
            len(rare),
            min_per_label,
            ", ".join(map(str, rare)),
        )
        frame = frame[~rare_rows]

    if frame.empty:
        raise DataError(
            f"no usable tickets in {path}: all {report.rows_read} rows were empty, duplicated or "
            "had too few examples per label (see the data report counts)"
        )
    frame = frame.reset_index(drop=True)
    report.rows_kept = len(frame)
    report.label_counts = {str(k): int(v) for k, v in frame[LABEL].value_counts().items()}
    return frame, report


def split_tickets(frame: pd.DataFrame, params: DataParams) -> dict[str, pd.DataFrame]:
    """Stratified, seeded train / validation / test split of a deduplicated frame."""
    rest, test = train_test_split(
        frame, test_size=params.test_size, stratify=frame[LABEL], random_state=params.seed
    )
    val_share = params.val_size / (1 - params.test_size)
    train, val = train_test_split(
        rest, test_size=val_share, stratify=rest[LABEL], random_state=params.seed
    )
    return {"train": train, "val": val, "test": test}


def scrub_texts(texts: pd.Series, scrub: Callable[[str], str]) -> tuple[pd.Series, int]:
    """``texts`` scrubbed, and how many of them changed."""
    scrubbed = texts.map(scrub)
    return scrubbed, int((scrubbed != texts).sum())


def add_natural(
    splits: dict[str, pd.DataFrame], natural: pd.DataFrame, val_size: float, seed: int
) -> dict[str, pd.DataFrame]:
    """Add natural tickets to the train and validation splits (the test split stays as it is).

    The natural tickets are split by label and language; every row is marked with its source.
    """
    natural_train, natural_val = train_test_split(
        natural,
        test_size=val_size,
        stratify=natural[LABEL] + "|" + natural[LANGUAGE],
        random_state=seed,
    )
    marked = {name: split.assign(**{SOURCE: "kaggle"}) for name, split in splits.items()}
    columns = [TEXT, LABEL, SOURCE, LANGUAGE]
    for name, extra in (("train", natural_train), ("val", natural_val)):
        extra = extra.assign(**{SOURCE: "natural"})[columns]
        marked[name] = pd.concat([marked[name], extra], ignore_index=True)
    return marked


def is_held_out(ticket_id: str, share: float) -> bool:
    """A stable choice per ticket: the same id is held out whatever else was corrected."""
    digest = hashlib.sha256(ticket_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def add_corrections(
    splits: dict[str, pd.DataFrame],
    corrections: pd.DataFrame,
    holdout: float,
    report: DataReport,
) -> pd.DataFrame:
    """Add corrected tickets (``ticket_id``, ``text``, ``label``, ``language``) to the train
    split, except a held-out share (returned, to evaluate on) and any whose text is a test
    ticket's. Counted in ``report``."""
    columns = [TEXT, LABEL, SOURCE, LANGUAGE]
    report.feedback_rows = len(corrections)
    normalised = corrections[TEXT].map(normalise_text)
    keep = (normalised.str.len() > 0) & ~normalised.duplicated(keep="last")
    report.feedback_dropped_duplicate = int((~keep & (normalised.str.len() > 0)).sum())
    corrections, normalised = corrections[keep], normalised[keep]
    in_test = normalised.isin(set(splits["test"][TEXT].map(normalise_text)))
    report.feedback_dropped_in_test = int(in_test.sum())
    corrections = corrections[~in_test].assign(**{SOURCE: "feedback"})
    held = corrections["ticket_id"].map(lambda tid: is_held_out(tid, holdout)).astype(bool)
    train_part, test_part = corrections[~held], corrections[held]
    report.feedback_train, report.feedback_test = len(train_part), len(test_part)
    for name, split in splits.items():
        if SOURCE not in split.columns:
            splits[name] = split.assign(**{SOURCE: "kaggle"})
    splits["train"] = pd.concat([splits["train"], train_part[columns]], ignore_index=True)
    return test_part[[TEXT, LABEL, LANGUAGE, "ticket_id"]]


def prepare(
    input_path: Path,
    output_dir: Path,
    report_path: Path,
    params: DataParams,
    natural: pd.DataFrame | None = None,
    natural_val_size: float = 0.2,
    corrections: pd.DataFrame | None = None,
    feedback_holdout: float = 0.2,
    scrub: Callable[[str], str] | None = None,
) -> DataReport:
    """Clean ``input_path``, split it and write ``{train,val,test}.csv`` and the data report.

    With ``natural`` (``text``, ``label``, ``language``), those tickets join the train and
    validation splits (:func:`add_natural`). With ``corrections`` (exported from the ticket
    store), they join the train split but for a held-out share, written to
    ``feedback_test.csv`` (:func:`add_corrections`; an empty file when there are none).
    ``scrub`` masks personal data in every text, of all three sources (:func:`load_tickets`).
    """
    frame, report = load_tickets(
        input_path,
        params.text_columns,
        params.label_column,
        min_per_label=params.min_per_label,
        scrub=scrub,
    )
    if scrub is not None and natural is not None:
        texts, masked = scrub_texts(natural[TEXT], scrub)
        natural = natural.assign(**{TEXT: texts})
        report.pii_masked_rows += masked
    if scrub is not None and corrections is not None and len(corrections):
        texts, masked = scrub_texts(corrections[TEXT], scrub)
        corrections = corrections.assign(**{TEXT: texts})
        report.pii_masked_rows += masked
    splits = split_tickets(frame, params)
    if natural is not None:
        splits = add_natural(splits, natural, natural_val_size, params.seed)
        report.natural_rows = len(natural)
    feedback_test = pd.DataFrame(columns=[TEXT, LABEL, LANGUAGE, "ticket_id"])
    if corrections is not None:
        feedback_test = add_corrections(splits, corrections, feedback_holdout, report)
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, split in splits.items():
        split.to_csv(output_dir / f"{name}.csv", index=False)
        report.split_sizes[name] = len(split)
    if corrections is not None:
        feedback_test.to_csv(output_dir / FEEDBACK_TEST, index=False)
    report.to_json(report_path)
    return report


def read_split(path: Path) -> pd.DataFrame:
    """Read a split written by :func:`prepare` (``text``, ``label``; ``source`` and
    ``language`` when natural tickets were added)."""
    return read_csv(Path(path), [TEXT], LABEL)

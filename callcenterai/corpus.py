"""The natural-ticket corpus: tickets written for this project, in English, French and Arabic.

The Kaggle tickets are pre-processed English; customers write natural sentences in three
languages. ``data/natural/tickets.csv`` (see its README) adds such tickets to training, and
``data/eval/multilingual_tickets.csv`` measures the models on them. Both are checked by
:func:`check_corpus` before anything trains on them: labels in the label set, the language as
declared (the agent's own detector must agree), lengths, no duplicate or near duplicate inside
the corpus, and no corpus ticket close to an evaluation ticket (which would leak the test).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from callcenterai.agent.language import detect_language
from callcenterai.data import LABEL, TEXT, file_sha256
from callcenterai.errors import DataError
from callcenterai.text import normalise_text

LANGUAGES = ("en", "fr", "ar")
VARIETIES = {"en": ("standard",), "fr": ("standard",), "ar": ("msa", "maghrebi", "maghrebi-latin")}
CHANNELS = ("email", "chat", "phone")
CORPUS_COLUMNS = (TEXT, LABEL, "language", "variety", "channel")
EVAL_COLUMNS = (TEXT, LABEL, "language")
# Maghrebi Arabic in Latin script ("arabizi") is not a language the detector knows: it is
# checked for its script instead.
LATIN_SCRIPT = "maghrebi-latin"
_ARABIC_LETTER = re.compile("[\u0600-\u06ff]")


@dataclass
class CorpusReport:
    """What the checks found. Problems hold row numbers and short reasons, never whole texts."""

    path: str
    sha256: str
    rows: int
    cells: dict[str, int] = field(default_factory=dict)  # "label|language" -> tickets
    varieties: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    words: dict[str, float] = field(default_factory=dict)
    max_similarity_inside: float = 0.0
    max_similarity_to_eval: float = 0.0
    problems: list[str] = field(default_factory=list)

    def to_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")


def read_table(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """A UTF-8 CSV with at least ``columns`` (as strings)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"input file not found: {path}")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text: re-save it as UTF-8") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path} is not a well-formed CSV: {last}") from None
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks column(s) {', '.join(missing)}")
    return frame


def similarity(left: Sequence[str], right: Sequence[str] | None = None) -> np.ndarray:
    """Cosine similarity of character 3-5-gram TF-IDF vectors of the normalised texts.

    Catches copies with a few words changed, in any script; ``right`` None compares ``left``
    with itself (the diagonal is zeroed).
    """
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    texts = [normalise_text(text) for text in left]
    others = None if right is None else [normalise_text(text) for text in right]
    vectorizer.fit(texts + (others or []))
    a = vectorizer.transform(texts)
    scores = (a @ (a if others is None else vectorizer.transform(others)).T).toarray()
    if others is None:
        np.fill_diagonal(scores, 0.0)
    return scores


def language_problems(frame: pd.DataFrame) -> list[str]:
    """Rows whose declared language the detector (or, for arabizi, the script) contradicts."""
    problems = []
    for row in frame.itertuples():
        if getattr(row, "variety", "") == LATIN_SCRIPT:
            if _ARABIC_LETTER.search(row.text):
                problems.append(f"row {row.Index}: {LATIN_SCRIPT} ticket written in Arabic script")
            continue
        detected = detect_language(row.text)
        if detected.code != row.language:
            problems.append(
                f"row {row.Index}: declared {row.language}, detected {detected.code} "
                f"({detected.confidence:.2f})"
            )
    return problems


def check_corpus(
    corpus_path: Path,
    eval_path: Path,
    labels: Sequence[str],
    *,
    min_per_cell: int = 150,
    min_words: int = 5,
    max_words: int = 150,
    near_duplicate: float = 0.8,
) -> CorpusReport:
    """Check the corpus (and its distance to the evaluation set); the report lists problems."""
    corpus = read_table(corpus_path, CORPUS_COLUMNS)
    evaluation = read_table(eval_path, EVAL_COLUMNS)
    report = CorpusReport(str(corpus_path), file_sha256(Path(corpus_path)), len(corpus))
    problems = report.problems

    for name, frame in (("corpus", corpus), ("evaluation set", evaluation)):
        unknown = sorted(set(frame[LABEL]) - set(labels))
        if unknown:
            problems.append(f"{name}: labels not in the label set: {', '.join(unknown)}")
        bad_language = sorted(set(frame["language"]) - set(LANGUAGES))
        if bad_language:
            problems.append(f"{name}: unknown languages: {', '.join(bad_language)}")
    for row in corpus.itertuples():
        if row.variety not in VARIETIES.get(row.language, ()):
            problems.append(f"row {row.Index}: variety {row.variety!r} for language {row.language}")
        if row.channel not in CHANNELS:
            problems.append(f"row {row.Index}: channel {row.channel!r}")
    problems += language_problems(corpus)

    words = corpus[TEXT].str.split().str.len()
    for index in corpus.index[(words < min_words) | (words > max_words)]:
        problems.append(f"row {index}: {words[index]} words, not {min_words}-{max_words}")
    report.words = {
        "min": int(words.min()),
        "median": float(words.median()),
        "max": int(words.max()),
    }

    cells = corpus.groupby([LABEL, "language"]).size()
    report.cells = {f"{label}|{language}": int(n) for (label, language), n in cells.items()}
    for label in labels:
        for language in LANGUAGES:
            count = report.cells.get(f"{label}|{language}", 0)
            if count < min_per_cell:
                problems.append(f"{label}|{language}: {count} tickets, fewer than {min_per_cell}")
    report.varieties = {str(k): int(v) for k, v in corpus["variety"].value_counts().items()}
    report.channels = {str(k): int(v) for k, v in corpus["channel"].value_counts().items()}

    normalised = corpus[TEXT].map(normalise_text)
    for index in corpus.index[normalised.duplicated(keep="first")]:
        problems.append(f"row {index}: duplicate of an earlier ticket")
    inside = similarity(corpus[TEXT].tolist())
    report.max_similarity_inside = round(float(inside.max(initial=0.0)), 4)
    for i, j in zip(*np.nonzero(np.triu(inside) >= near_duplicate)):
        problems.append(f"rows {i} and {j}: near duplicates (similarity {inside[i, j]:.2f})")
    to_eval = similarity(corpus[TEXT].tolist(), evaluation[TEXT].tolist())
    report.max_similarity_to_eval = round(float(to_eval.max(initial=0.0)), 4)
    for i, j in zip(*np.nonzero(to_eval >= near_duplicate)):
        problems.append(f"row {i}: close to evaluation ticket {j} (similarity {to_eval[i, j]:.2f})")
    return report

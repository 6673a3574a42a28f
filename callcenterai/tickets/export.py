"""The corrections as a dataset: what ``callcenterai feedback export`` writes for training.

The export is cumulative: corrections already in the file stay when the store no longer has
them (the retention setting deletes old tickets), and a later correction of the same ticket
replaces the earlier one. So the file, versioned by DVC, only grows or changes label, and a
retrained model never silently loses what people taught it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import make_url

from callcenterai.errors import DataError
from callcenterai.tickets.store import TicketStore, redacted

logger = logging.getLogger(__name__)
COLUMNS = [
    "ticket_id",
    "text",
    "label",
    "language",
    "predicted",
    "model",
    "created_at",
    "corrected_at",
]


@dataclass
class ExportReport:
    output: str
    store: str
    corrections: int = 0  # rows in the written file
    from_store: int = 0
    new: int = 0
    relabelled: int = 0
    kept_from_earlier: int = 0  # in the file, no longer in the store (retention)

    def as_dict(self) -> dict:
        return asdict(self)


def store_exists(url: str) -> bool:
    """False for a SQLite file that was never created (no agent ever ran with it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return True
    return Path(parsed.database).exists()


def read_corrections(path: Path) -> pd.DataFrame:
    """A file written by :func:`export_corrections` (an empty frame when there is none)."""
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise DataError(
            f"{path} is not a corrections export (no column(s) {', '.join(missing)}); "
            "write it with `callcenterai feedback export`"
        )
    return frame[COLUMNS]


def store_corrections(store: TicketStore) -> pd.DataFrame:
    rows = [
        {
            "ticket_id": ticket.id,
            "text": ticket.text,
            "label": correction.label,
            "language": ticket.language,
            "predicted": ticket.label,
            "model": f"{ticket.model_name}/{ticket.model_version}",
            "created_at": ticket.created_at.isoformat(),
            "corrected_at": correction.created_at.isoformat(),
        }
        for ticket, correction in store.corrected()
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def export_corrections(store_url: str, output: Path) -> ExportReport:
    """Merge the store's corrections into ``output`` (a CSV), oldest ticket first."""
    report = ExportReport(output=str(output), store=redacted(store_url))
    earlier = read_corrections(output)
    if store_exists(store_url):
        store = TicketStore(store_url)
        try:
            store.migrate()
            current = store_corrections(store)
        finally:
            store.close()
    else:
        logger.info("no ticket store at %s yet: no new corrections", report.store)
        current = pd.DataFrame(columns=COLUMNS)
    known = earlier.set_index("ticket_id")["label"].to_dict()
    report.from_store = len(current)
    report.new = int((~current["ticket_id"].isin(known)).sum())
    report.relabelled = int(
        sum(
            1
            for tid, label in zip(current["ticket_id"], current["label"])
            if known.get(tid, label) != label
        )
    )
    kept = earlier[~earlier["ticket_id"].isin(set(current["ticket_id"]))]
    report.kept_from_earlier = len(kept)
    merged = pd.concat([kept, current], ignore_index=True) if len(kept) else current
    merged = merged.sort_values(["created_at", "ticket_id"], kind="stable")
    output.parent.mkdir(parents=True, exist_ok=True)
    merged.to_csv(output, index=False, columns=COLUMNS)
    report.corrections = len(merged)
    return report

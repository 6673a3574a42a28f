"""Reading and writing the ticket store: plain functions over a SQLAlchemy engine.

SQLite (a file, nothing to install) is the default; PostgreSQL works with a
``postgresql+psycopg://`` URL. The schema is created and upgraded by the Alembic migrations in
``migrations/`` (:meth:`TicketStore.migrate`), never by ``create_all``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, delete, event, func, insert, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, contains_eager, joinedload

from callcenterai.errors import CallCenterAIError
from callcenterai.tickets.schema import Correction, ShadowPrediction, Ticket

logger = logging.getLogger(__name__)
VERSION_TABLE = "callcenterai_alembic_version"


class StoreError(CallCenterAIError):
    """The ticket store cannot be reached or refused the operation (the message names why)."""


class UnknownTicketError(CallCenterAIError):
    """No ticket with that id (never stored, or deleted by the retention setting)."""


class UnknownLabelError(CallCenterAIError):
    """A correction to a category the model that answered the ticket does not know."""


def unknown_ticket(ticket_id: str) -> UnknownTicketError:
    return UnknownTicketError(
        f"no ticket {ticket_id}: it was never stored or the retention setting deleted it"
    )


class BadCursorError(CallCenterAIError):
    """A review-queue cursor that this store did not hand out."""


def now() -> datetime:
    return datetime.now(timezone.utc)


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")  # corrections go with their ticket
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (export, review) do not block the writer
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def open_engine(url: str, connect_timeout_s: float = 3.0) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": connect_timeout_s})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = max(1, int(connect_timeout_s))
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


@dataclass(frozen=True)
class FeedbackResult:
    ticket_id: str
    label: str
    predicted: str
    status: str  # recorded (first correction), updated (replaced another), unchanged (replayed)
    previous: str | None = None


def _cursor(ticket: Ticket) -> str:
    return f"{ticket.uncertainty!r}~{ticket.id}"


def _parse_cursor(cursor: str) -> tuple[float, str]:
    try:
        uncertainty, ticket_id = cursor.split("~", 1)
        return float(uncertainty), ticket_id
    except ValueError:
        raise BadCursorError(
            "cursor is not one this service handed out: pass next_cursor from the last page"
        ) from None


class TicketStore:
    """The tickets and their corrections in one database."""

    def __init__(self, url: str, connect_timeout_s: float = 3.0):
        self.url = url
        self.engine = open_engine(url, connect_timeout_s)

    def __repr__(self) -> str:
        return f"TicketStore({redacted(self.url)})"

    # -- schema -------------------------------------------------------------------------------

    def _alembic(self, connection) -> Config:
        config = Config()
        location = resources.files("callcenterai.tickets").joinpath("migrations")
        config.set_main_option("script_location", str(location))
        config.attributes["connection"] = connection
        return config

    def migrate(self, revision: str = "head") -> None:
        """Create or upgrade the schema (idempotent)."""
        with self._errors("migrate"), self.engine.begin() as connection:
            command.upgrade(self._alembic(connection), revision)

    def downgrade(self, revision: str = "base") -> None:
        with self._errors("downgrade"), self.engine.begin() as connection:
            command.downgrade(self._alembic(connection), revision)

    def revision(self) -> str | None:
        with self._errors("read the schema version of"), self.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()

    # -- writes -------------------------------------------------------------------------------

    def add(self, rows: list[dict], shadows: list[dict] | None = None) -> None:
        """Insert tickets (dicts of :class:`Ticket` columns), then shadow predictions (of
        :class:`ShadowPrediction`), in one transaction."""
        if rows or shadows:
            with self._errors("write to"), self.engine.begin() as connection:
                if rows:
                    connection.execute(insert(Ticket), rows)
                if shadows:
                    connection.execute(insert(ShadowPrediction), shadows)

    def correct(self, ticket_id: str, label: str) -> FeedbackResult:
        """Record (or replace) the correct category of a ticket; replaying it changes nothing."""
        with self._errors("record a correction in"), Session(self.engine) as session:
            ticket = session.get(Ticket, ticket_id, options=[joinedload(Ticket.correction)])
            if ticket is None:
                raise unknown_ticket(ticket_id)
            labels = sorted(ticket.probabilities)
            if labels and label not in labels:
                raise UnknownLabelError(
                    f"unknown category {label!r}: the model that answered this ticket knows "
                    + ", ".join(labels)
                )
            correction = ticket.correction
            if correction is not None and correction.label == label:
                return FeedbackResult(ticket_id, label, ticket.label, "unchanged")
            previous = correction.label if correction is not None else None
            if correction is None:
                session.add(Correction(ticket_id=ticket_id, label=label, created_at=now()))
            else:
                correction.previous_label, correction.label = previous, label
                correction.created_at = now()
            session.commit()
            status = "recorded" if previous is None else "updated"
            return FeedbackResult(ticket_id, label, ticket.label, status, previous)

    def purge(self, before: datetime) -> int:
        """Delete the tickets (and their corrections) recorded before ``before``."""
        with self._errors("purge"), self.engine.begin() as connection:
            old = select(Ticket.id).where(Ticket.created_at < before)
            connection.execute(delete(Correction).where(Correction.ticket_id.in_(old)))
            connection.execute(delete(ShadowPrediction).where(ShadowPrediction.ticket_id.in_(old)))
            return connection.execute(delete(Ticket).where(Ticket.created_at < before)).rowcount

    # -- reads --------------------------------------------------------------------------------

    def get(self, ticket_id: str) -> Ticket | None:
        with self._errors("read from"), Session(self.engine) as session:
            return session.get(Ticket, ticket_id, options=[joinedload(Ticket.correction)])

    def review_page(self, limit: int, cursor: str | None = None) -> tuple[list[Ticket], str | None]:
        """Uncorrected tickets that need a human, most uncertain first; and the next cursor."""
        query = (
            select(Ticket)
            .outerjoin(Correction)
            .options(contains_eager(Ticket.correction))
            .where(Ticket.review_reason.is_not(None), Correction.ticket_id.is_(None))
            .order_by(Ticket.uncertainty.desc(), Ticket.id)
            .limit(limit + 1)
        )
        if cursor:
            uncertainty, last_id = _parse_cursor(cursor)
            query = query.where(
                or_(
                    Ticket.uncertainty < uncertainty,
                    (Ticket.uncertainty == uncertainty) & (Ticket.id > last_id),
                )
            )
        with self._errors("read from"), Session(self.engine) as session:
            tickets = list(session.scalars(query))
        more = len(tickets) > limit
        tickets = tickets[:limit]
        return tickets, (_cursor(tickets[-1]) if more else None)

    def review_count(self) -> int:
        query = (
            select(func.count())
            .select_from(Ticket)
            .outerjoin(Correction)
            .where(Ticket.review_reason.is_not(None), Correction.ticket_id.is_(None))
        )
        with self._errors("read from"), Session(self.engine) as session:
            return int(session.scalar(query) or 0)

    def corrected(self) -> list[tuple[Ticket, Correction]]:
        """Every corrected ticket with its correction, oldest ticket first."""
        query = select(Ticket, Correction).join(Correction).order_by(Ticket.created_at, Ticket.id)
        with self._errors("read from"), Session(self.engine) as session:
            return [(ticket, correction) for ticket, correction in session.execute(query)]

    def window(self, since: datetime, until: datetime) -> list[dict]:
        """What drift monitoring needs of the tickets recorded in ``[since, until)``."""
        columns = [
            Ticket.language,
            Ticket.text,
            Ticket.tfidf_label,
            Ticket.tfidf_confidence,
            Ticket.transformer_label,
            Ticket.transformer_confidence,
            Ticket.unknown_word_share,
        ]
        query = select(*columns).where(Ticket.created_at >= since, Ticket.created_at < until)
        with self._errors("read from"), self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def shadow_summary(self, model_name: str, challenger_version: str) -> dict:
        """Live agreement of a challenger with production, and both models' accuracy on the
        shadowed tickets that people corrected."""
        query = (
            select(ShadowPrediction.label, ShadowPrediction.production_label, Correction.label)
            .outerjoin(Correction, Correction.ticket_id == ShadowPrediction.ticket_id)
            .where(
                ShadowPrediction.model_name == model_name,
                ShadowPrediction.challenger_version == str(challenger_version),
            )
        )
        with self._errors("read from"), self.engine.connect() as connection:
            rows = connection.execute(query).all()
        corrected = [(c, p, truth) for c, p, truth in rows if truth is not None]

        def share(values) -> float | None:
            values = list(values)
            return round(sum(values) / len(values), 4) if values else None

        return {
            "shadowed": len(rows),
            "agreement": share(c == p for c, p, _ in rows),
            "corrected": len(corrected),
            "challenger_accuracy_on_corrections": share(c == t for c, _, t in corrected),
            "production_accuracy_on_corrections": share(p == t for _, p, t in corrected),
        }

    def count(self) -> int:
        with self._errors("read from"), Session(self.engine) as session:
            return int(session.scalar(select(func.count()).select_from(Ticket)) or 0)

    def close(self) -> None:
        self.engine.dispose()

    # -- errors -------------------------------------------------------------------------------

    def _errors(self, action: str):
        return _StoreErrors(action, self.url)


class _StoreErrors:
    """Turns a database error into one :class:`StoreError` line (no SQL, no parameters)."""

    def __init__(self, action: str, url: str):
        self.action, self.url = action, url

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, _tb):
        if exc is not None and isinstance(exc, SQLAlchemyError):
            reason = type(getattr(exc, "orig", None) or exc).__name__
            raise StoreError(
                f"could not {self.action} the ticket store {redacted(self.url)} ({reason})"
            ) from None
        return False

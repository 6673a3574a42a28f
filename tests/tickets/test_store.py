"""The ticket store on SQLite and on a real PostgreSQL server: migrations up and down, writes,
corrections, the review queue's order and pages, retention, and a database that is down."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import inspect

from callcenterai.tickets.store import (
    BadCursorError,
    StoreError,
    TicketStore,
    UnknownLabelError,
    UnknownTicketError,
    now,
)
from callcenterai.tickets.writer import TicketWriter
from tests.tickets.rows import ticket_row as row


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'tickets.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_url):
    store = TicketStore(store_url)
    store.migrate()
    yield store
    store.downgrade("base")  # leaves the shared PostgreSQL database empty for the next test
    store.close()


def test_migrations_up_and_down(store_url):
    store = TicketStore(store_url)
    store.migrate()
    assert store.revision() == "0003"
    tables = set(inspect(store.engine).get_table_names())
    assert {
        "tickets",
        "corrections",
        "shadow_predictions",
        "callcenterai_alembic_version",
    } <= tables
    store.migrate()  # idempotent
    store.downgrade("base")
    assert store.revision() is None
    assert not {"tickets", "corrections"} & set(inspect(store.engine).get_table_names())
    store.close()


def test_add_get_and_correct(store):
    ticket = row(confidence=0.8)
    store.add([ticket])
    stored = store.get(ticket["id"])
    assert stored.text == ticket["text"] and stored.pii == {"EMAIL": 1}
    assert stored.correction is None

    first = store.correct(ticket["id"], "Access")
    assert (first.status, first.predicted, first.previous) == ("recorded", "Hardware", None)
    again = store.correct(ticket["id"], "Access")
    assert again.status == "unchanged"
    changed = store.correct(ticket["id"], "Storage")
    assert (changed.status, changed.previous) == ("updated", "Access")
    assert store.get(ticket["id"]).correction.label == "Storage"
    assert [(t.id, c.label) for t, c in store.corrected()] == [(ticket["id"], "Storage")]


def test_bad_corrections(store):
    ticket = row()
    store.add([ticket])
    with pytest.raises(UnknownTicketError, match="no ticket"):
        store.correct(uuid.uuid4().hex, "Access")
    with pytest.raises(UnknownLabelError, match="knows Access, Hardware, Storage"):
        store.correct(ticket["id"], "Printers")
    assert store.get(ticket["id"]).correction is None


def test_review_queue_order_pages_and_corrected_tickets_leaving_it(store):
    confidences = [0.31, 0.45, 0.2, 0.49, 0.38]
    rows = [row(confidence=c, review="low_confidence") for c in confidences]
    rows.append(row(confidence=0.95))  # confident: not in the queue
    store.add(rows)
    assert store.review_count() == 5

    seen, cursor = [], None
    while True:
        page, cursor = store.review_page(limit=2, cursor=cursor)
        seen += [ticket.confidence for ticket in page]
        if cursor is None:
            break
    assert seen == sorted(confidences)  # most uncertain first, each once

    least_sure = store.review_page(limit=1)[0][0]
    store.correct(least_sure.id, "Access")
    assert store.review_count() == 4
    assert least_sure.id not in {t.id for t in store.review_page(limit=10)[0]}
    with pytest.raises(BadCursorError):
        store.review_page(limit=2, cursor="not-a-cursor")


def test_retention_deletes_old_tickets_and_their_corrections(store):
    old, recent = row(created_at=now() - timedelta(days=40)), row()
    store.add([old, recent])
    store.correct(old["id"], "Access")
    assert store.purge(now() - timedelta(days=30)) == 1
    assert store.get(old["id"]) is None and store.get(recent["id"]) is not None
    assert store.corrected() == []


def test_writer_writes_in_the_background_and_purges(store_url):
    store = TicketStore(store_url)
    writer = TicketWriter(store, retention_days=30, on_result=lambda o, n: results.append((o, n)))
    results: list = []
    store.migrate()
    store.add([row(created_at=now() - timedelta(days=31))])
    writer.start()
    rows = [row() for _ in range(50)]
    assert all(writer.submit(r) for r in rows)
    assert writer.flush(timeout=10)
    assert writer.up and store.count() == 50  # the old ticket was purged at start
    assert sum(n for outcome, n in results if outcome == "stored") == 50
    writer.close()
    TicketStore(store_url).downgrade("base")


def test_a_database_that_is_down_costs_the_rows_not_the_caller(tmp_path):
    url = "postgresql+psycopg://nobody@127.0.0.1:9/tickets"  # nothing listens on port 9
    results: list = []
    writer = TicketWriter(
        TicketStore(url, connect_timeout_s=1), retry_s=0.2, on_result=lambda o, n: results.append(o)
    ).start()
    assert writer.submit(row())
    assert writer.flush(timeout=10)
    assert not writer.up and "could not migrate the ticket store" in writer.error
    assert "nobody" in writer.error and results == ["failed"]
    with pytest.raises(StoreError, match="OperationalError"):
        writer.store.get(uuid.uuid4().hex)
    writer.close()


def test_a_full_queue_drops_and_counts(tmp_path):
    results: list = []
    writer = TicketWriter(
        TicketStore(f"sqlite:///{tmp_path / 't.db'}"),
        queue_size=2,
        on_result=lambda o, n: results.append(o),
    )  # not started: nothing drains the queue
    assert writer.submit(row()) and writer.submit(row())
    assert not writer.submit(row())
    assert results == ["dropped"]


def test_the_url_password_never_appears_in_errors():
    store = TicketStore("postgresql+psycopg://user:s3cret-pw@127.0.0.1:9/tickets", 1)
    with pytest.raises(StoreError) as error:
        store.count()
    assert "s3cret-pw" not in str(error.value) and "***" in str(error.value)

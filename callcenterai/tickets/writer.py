"""The agent's writes to the ticket store, off the response path.

``/classify`` hands each ticket to :meth:`TicketWriter.submit`, which only puts it on a bounded
queue; one thread writes the queue in batches. The answer never waits for the database: a store
that is down, slow or full costs the rows (counted through ``on_result``: ``stored``, ``failed``,
``dropped``), never the request. The same thread creates or upgrades the schema (retrying while
the database is down) and deletes rows older than the retention setting.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from callcenterai.errors import one_line
from callcenterai.tickets.store import StoreError, TicketStore, now

logger = logging.getLogger(__name__)
_STOP = object()


class TicketWriter:
    def __init__(
        self,
        store: TicketStore,
        *,
        queue_size: int = 10_000,
        batch_size: int = 256,
        retention_days: float = 0,
        retry_s: float = 5.0,
        purge_every_s: float = 3600.0,
        on_result: Callable[[str, int], None] = lambda outcome, rows: None,
        on_state: Callable[[bool], None] = lambda up: None,
    ):
        self.store = store
        self.batch_size, self.retention_days = batch_size, retention_days
        self.retry_s, self.purge_every_s = retry_s, purge_every_s
        self.on_result, self.on_state = on_result, on_state
        self.up = False  # the schema is in place and the last write succeeded
        self.error: str | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._done = threading.Condition()
        self._submitted = self._processed = 0
        self._thread = threading.Thread(target=self._run, name="ticket-writer", daemon=True)

    # -- the request side ------------------------------------------------------------------------

    def start(self) -> TicketWriter:
        self._thread.start()
        return self

    def submit(self, row: dict, table: str = "tickets") -> bool:
        """Queue one row (a ticket, or a ``shadow`` prediction of a ticket queued before it);
        False (and a ``dropped`` count) when the queue is full."""
        with self._done:
            try:
                self._queue.put_nowait((table, row))
            except queue.Full:
                self.on_result("dropped", 1)
                return False
            self._submitted += 1
            return True

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until every ticket submitted so far has been written (or given up on)."""
        with self._done:
            target = self._submitted
            return self._done.wait_for(lambda: self._processed >= target, timeout)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)
        self.store.close()

    # -- the writer thread -----------------------------------------------------------------------

    def _set_state(self, up: bool, error: str | None = None) -> None:
        if up != self.up:
            if up:
                logger.info("ticket store ready: %r", self.store)
            else:
                logger.warning("ticket store unavailable, tickets are not stored: %s", error)
        self.up, self.error = up, error
        self.on_state(up)

    def _ensure_schema(self) -> bool:
        try:
            self.store.migrate()
        except StoreError as exc:
            self._set_state(False, one_line(exc))
            return False
        self._set_state(True)
        return True

    def _take_batch(self, timeout: float) -> tuple[list[tuple[str, dict]], bool]:
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            return [], False
        if first is _STOP:
            return [], True
        batch, stop = [first], False
        while len(batch) < self.batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stop = True
                break
            batch.append(item)
        return batch, stop

    def _write(self, batch: list[tuple[str, dict]]) -> None:
        try:
            self.store.add(
                [row for table, row in batch if table == "tickets"],
                [row for table, row in batch if table == "shadow"],
            )
        except StoreError as exc:
            self.on_result("failed", len(batch))
            self._set_state(False, one_line(exc))
        else:
            self.on_result("stored", len(batch))
            if not self.up:
                self._set_state(True)
        finally:
            self._processed_rows(len(batch))

    def _processed_rows(self, count: int) -> None:
        """Count rows as handled (written or given up on), for :meth:`flush`."""
        with self._done:
            self._processed += count
            self._done.notify_all()

    def _purge(self) -> None:
        if self.retention_days <= 0:
            return
        try:
            deleted = self.store.purge(now() - timedelta(days=self.retention_days))
        except StoreError as exc:
            logger.warning("retention: %s", one_line(exc))
            return
        if deleted:
            logger.info(
                "retention: deleted %d tickets older than %g days", deleted, self.retention_days
            )

    def _run(self) -> None:
        schema_ready = self._ensure_schema()
        last_try = last_purge = time.monotonic()
        if schema_ready:
            self._purge()
        while True:
            if not schema_ready and time.monotonic() - last_try >= self.retry_s:
                schema_ready, last_try = self._ensure_schema(), time.monotonic()
            batch, stop = self._take_batch(timeout=min(1.0, self.retry_s))
            if batch:
                if schema_ready:
                    self._write(batch)
                else:  # no schema yet: the database is down since start-up
                    self.on_result("failed", len(batch))
                    self._processed_rows(len(batch))
            if schema_ready and time.monotonic() - last_purge >= self.purge_every_s:
                self._purge()
                last_purge = time.monotonic()
            if stop:
                return

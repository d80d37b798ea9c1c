"""Drains the spool into ClickHouse in large column batches, exactly once.

Two threads form a pipeline: one reads spool records and flattens them into a column
batch, the other inserts the previous batch. chDB and the HTTP client release the GIL
while ClickHouse works, so flattening the next batch overlaps with storing this one.

Batches grow with load. A batch is handed over when it holds ``batch_spans`` spans, or
when ``max_delay`` has passed since its first span *and* the inserter is idle; while an
insert runs, the next batch keeps filling. ClickHouse spends much less per row on fewer,
larger inserts (fewer parts to write and merge), so under overload the collector moves
to large blocks by itself, and under light load a span still waits at most ``max_delay``
plus one insert.

A batch is a run of spool records. Its bounds are recorded before the insert (the
spool's *intent*) and the insert carries a deduplication token derived from them, so
after a crash the same batch is replayed under the same token and ClickHouse keeps one
copy (the ``ml_*`` views fire only for blocks that were not deduplicated). While storage
fails, the batch is retried with backoff and new data waits in the spool, which pushes
back on the receivers when it fills.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..storage.client import StorageError
from .flatten import TABLES, Batch, flatten
from .spool import Position, Record, Spool

log = logging.getLogger("modeltrace.writer")


@dataclass
class PendingBatch:
    batch: Batch
    start: Position
    end: Position
    records: int


class Writer:
    def __init__(
        self,
        spool: Spool,
        store: Any,
        metrics: Any = None,
        *,
        batch_spans: int = 50_000,
        max_delay: float = 1.0,
        max_batch_bytes: int = 64 << 20,
        backoff_max: float = 30.0,
    ) -> None:
        self.spool = spool
        self.store = store
        self.metrics = metrics
        self.batch_spans = batch_spans
        self.max_delay = max_delay
        self.max_batch_bytes = max_batch_bytes
        self.backoff_max = backoff_max
        self._stop = threading.Event()
        self._queue: queue.Queue[PendingBatch | None] = queue.Queue(maxsize=1)
        self._inserter_idle = threading.Event()
        self._inserter_idle.set()
        self._threads: list[threading.Thread] = []
        self.healthy = True
        self.last_error: str | None = None

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._read_loop, name="modeltrace-flatten", daemon=True),
            threading.Thread(target=self._insert_loop, name="modeltrace-insert", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Write what the spool holds (within ``timeout``), then stop."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    # -- reading and flattening ---------------------------------------------------------

    def _read_loop(self) -> None:
        try:
            position = self.spool.committed
            if self.spool.intent is not None:
                start, end = self.spool.intent
                self._queue.put(self._batch_between(start, end))
                position = end
            while True:
                pending = self._collect(position)
                if pending is not None:
                    # A full batch waits for the inserter: at most two batches are in memory.
                    while not self._inserter_idle.wait(0.25) and not self._stop.is_set():
                        pass
                    self._queue.put(pending)
                    position = pending.end
                elif self._stop.is_set():
                    return
        finally:
            self._queue.put(None)

    def _collect(self, start: Position) -> PendingBatch | None:
        """The next batch: ``batch_spans`` spans, or whatever came within ``max_delay``."""
        batch = Batch()
        records = 0
        size = 0
        first: Position | None = None
        position = start
        deadline: float | None = None
        while True:
            # Small reads: records beyond this batch would only be read again for the next one.
            for record in self.spool.read(position, 16, 4 << 20):
                self._flatten(record, batch)
                first = first or record.start
                position = record.end
                records += 1
                size += len(record.payload)
                if batch.spans >= self.batch_spans or size >= self.max_batch_bytes:
                    return PendingBatch(batch, first, position, records)
            now = time.monotonic()
            if records and deadline is None:
                deadline = now + self.max_delay
            due = deadline is not None and now >= deadline and self._inserter_idle.is_set()
            if first is not None and (self._stop.is_set() or due):
                return PendingBatch(batch, first, position, records)
            if first is None and self._stop.is_set():
                return None
            self.spool.wait(position, 0.05 if deadline else 0.25)

    def _batch_between(self, start: Position, end: Position) -> PendingBatch:
        """Rebuild exactly the batch a crash interrupted, so its token matches."""
        batch = Batch()
        records = 0
        position = start
        while (position.segment, position.offset) < (end.segment, end.offset):
            more = self.spool.read(position, 1000, self.max_batch_bytes)
            if not more:
                break
            for record in more:
                if (record.start.segment, record.start.offset) >= (end.segment, end.offset):
                    return PendingBatch(batch, start, end, records)
                self._flatten(record, batch)
                records += 1
            position = more[-1].end
        return PendingBatch(batch, start, end, records)

    def _flatten(self, record: Record, batch: Batch) -> None:
        try:
            flatten([record.payload], batch)
        except Exception:  # the receivers validated it; a damaged record must not stop the pipeline
            log.exception("skipping an undecodable spool record %d", record.seq)
            self._count("spool_records_undecodable", 1)

    # -- inserting ----------------------------------------------------------------------

    def _insert_loop(self) -> None:
        while True:
            self._inserter_idle.set()
            pending = self._queue.get()
            self._inserter_idle.clear()
            if pending is None:
                return
            if not self._write(pending):
                # Shutting down with storage failing: the rest stays in the spool.
                return

    def _write(self, pending: PendingBatch) -> bool:
        batch, start, end = pending.batch, pending.start, pending.end
        self.spool.begin(start, end)
        token = f"{start.segment}.{start.offset}-{end.segment}.{end.offset}"
        delay = 0.2
        while True:
            try:
                began = time.monotonic()
                ensure_schema = getattr(self.store, "ensure_schema", None)
                if ensure_schema is not None:
                    ensure_schema()
                for table, names in TABLES.items():
                    if batch.rows(table):
                        self.store.insert(table, batch.columns[table], names, f"{token}:{table}", lane="write")
                self._observe(time.monotonic() - began, batch)
                batch.release()
                break
            except StorageError as exc:
                self.healthy = False
                self.last_error = str(exc)
                self._count("storage_errors", 1)
                log.warning("storage write failed (retrying in %.1fs): %s", delay, exc)
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, self.backoff_max)
        self.healthy = True
        self.last_error = None
        self.spool.commit(end, pending.records)
        return True

    def _observe(self, seconds: float, batch: Batch) -> None:
        if self.metrics is not None:
            self.metrics.observe_write(seconds, batch)

    def _count(self, name: str, n: int) -> None:
        if self.metrics is not None:
            self.metrics.inc(name, n)

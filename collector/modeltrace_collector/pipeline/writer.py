"""Drains the spool into ClickHouse in large column batches, exactly once.

A batch is a run of spool records. Its bounds are recorded before the inserts (the
spool's *intent*) and every insert carries a deduplication token derived from them, so
after a crash the same batch is replayed under the same tokens and ClickHouse keeps one
copy. While storage fails, the batch is retried with backoff and new data waits in the
spool, which pushes back on the receivers when it fills.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..storage.client import StorageError
from .flatten import TABLES, Batch, flatten
from .spool import Position, Record, Spool

log = logging.getLogger("modeltrace.writer")


class Writer:
    def __init__(
        self,
        spool: Spool,
        store: Any,
        metrics: Any = None,
        *,
        batch_spans: int = 10_000,
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
        self._thread: threading.Thread | None = None
        self.healthy = True
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="modeltrace-writer", daemon=True)
        self._thread.start()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Write what the spool holds (within ``timeout``), then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the loop -----------------------------------------------------------------------

    def _run(self) -> None:
        if self.spool.intent is not None:
            start, end = self.spool.intent
            self._write(self._records_between(start, end), start, end)
        while True:
            records = self._collect()
            if records:
                self._write(records, records[0].start, records[-1].end)
            elif self._stop.is_set():
                return

    def _collect(self) -> list[Record]:
        """Records for the next batch: enough spans, or whatever came within ``max_delay``."""
        start = self.spool.committed
        deadline = None
        records: list[Record] = []
        while True:
            position = records[-1].end if records else start
            more = self.spool.read(position, 100_000, self.max_batch_bytes)
            records.extend(more)
            size = sum(len(r.payload) for r in records)
            # ~300 bytes per span is typical; the spool size bounds the batch either way.
            if size >= self.batch_spans * 300 or size >= self.max_batch_bytes:
                return records
            now = time.monotonic()
            if records and deadline is None:
                deadline = now + self.max_delay
            if self._stop.is_set():
                return records
            if deadline is not None and now >= deadline:
                return records
            self.spool.wait(position if not more else more[-1].end, 0.05 if deadline else 0.25)

    def _records_between(self, start: Position, end: Position) -> list[Record]:
        out: list[Record] = []
        position = start
        while (position.segment, position.offset) < (end.segment, end.offset):
            more = self.spool.read(position, 10_000, self.max_batch_bytes)
            if not more:
                break
            for r in more:
                if (r.start.segment, r.start.offset) >= (end.segment, end.offset):
                    return out
                out.append(r)
            position = more[-1].end
        return out

    def _write(self, records: list[Record], start: Position, end: Position) -> None:
        batch = Batch()
        for record in records:
            try:
                flatten([record.payload], batch)
            except Exception:  # the receivers validated it; a damaged record must not stop the pipeline
                log.exception("skipping an undecodable spool record %d", record.seq)
                self._count("spool_records_undecodable", 1)
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
                        self.store.insert(table, batch.columns[table], names, f"{token}:{table}")
                self._observe(time.monotonic() - began, batch)
                break
            except StorageError as exc:
                self.healthy = False
                self.last_error = str(exc)
                self._count("storage_errors", 1)
                log.warning("storage write failed (retrying in %.1fs): %s", delay, exc)
                if self._stop.wait(delay):
                    return  # shutting down: the batch stays in the spool for the next start
                delay = min(delay * 2, self.backoff_max)
        self.healthy = True
        self.last_error = None
        self.spool.commit(end, len(records))

    def _observe(self, seconds: float, batch: Batch) -> None:
        if self.metrics is None:
            return
        self.metrics.observe_write(seconds, batch)

    def _count(self, name: str, n: int) -> None:
        if self.metrics is not None:
            self.metrics.inc(name, n)

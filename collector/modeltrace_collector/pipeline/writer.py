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
spool's *intent*) and the insert carries a deduplication token: a hash of the records'
bytes. After a crash the same batch is replayed under the same token and ClickHouse keeps
one copy, in every table the views fill too. The token depends on the content only, so it
stays unique across spool resets, restored backups and several collectors on one server.

Failures are classified once (``storage.errors``). While storage is away or busy, the
batch is retried with backoff and new data waits in the spool, which pushes back on the
receivers when it fills. When ClickHouse refuses the rows themselves, the batch is bisected:
every part it accepts is stored (under a token derived from the batch's), and each row it
still refuses goes to the dead-letter store with its reason, so one bad span never stalls
the rest. Nothing acknowledged is lost without a trace.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ..config import DeadLetterSettings, WriterSettings
from ..storage.errors import REFUSED, RETRY, Failure, StorageError, classify
from .deadletter import DeadLetter, DeadLetters
from .flatten import TABLES, Batch, flatten
from .spool import MAX_RECORD, Position, Record, Spool

_DEFAULTS = WriterSettings()

log = logging.getLogger("modeltrace.writer")


@dataclass
class PendingBatch:
    batch: Batch
    start: Position
    end: Position
    records: int
    token: str = ""
    """The deduplication token: a hash of the records' bytes."""
    origins: list[tuple[Position, int]] = field(default_factory=list)
    """Each record that gave rows: where it starts in the spool, and how many rows."""
    after_crash: bool = False
    """The batch a crash interrupted, stored again at the next start."""
    attempt: int = 0
    """Which token the batch goes under: 0, the hash; n, the hash with ":after-crash-n"."""
    base_token: str = ""
    """The hash alone, whatever the attempt (dead letters are named after it)."""


class _Hasher:
    def __init__(self) -> None:
        self._h = hashlib.blake2b(digest_size=16)

    def add(self, payload: bytes) -> None:
        self._h.update(len(payload).to_bytes(8, "little"))
        self._h.update(payload)

    def token(self) -> str:
        return self._h.hexdigest()


class Writer:
    name = "writer"

    def __init__(
        self,
        spool: Spool,
        store: Any,
        metrics: Any = None,
        *,
        batch_spans: int = _DEFAULTS.batch_spans,
        max_delay: float = _DEFAULTS.max_delay_seconds,
        max_batch_bytes: int = 64 << 20,
        backoff_max: float = 30.0,
        dead_letters: DeadLetters | None = None,
        unsure_retries: int = 3,
        unsure_row_seconds: float = 30.0,
        stuck_seconds: float = _DEFAULTS.stuck_seconds,
        unready_seconds: float = DeadLetterSettings().unready_seconds,
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
        self.dead_letters = dead_letters
        self.unsure_retries = unsure_retries
        self.unsure_row_seconds = unsure_row_seconds
        self.healthy = True
        self.stuck_seconds = stuck_seconds
        self.unready_seconds = unready_seconds
        self.last_error: str | None = None
        self.failing_since: float | None = None
        """When the batch being written first failed (monotonic), while it still fails."""
        self.last_dead_letter: float | None = None
        self._insert_began: float | None = None
        self._causes_logged: set[str] = set()

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._read_loop, name="modeltrace-flatten", daemon=True),
            threading.Thread(target=self._insert_loop, name="modeltrace-insert", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def alive(self) -> bool:
        """Both threads run (or were told to stop)."""
        return self._stop.is_set() or (bool(self._threads) and all(t.is_alive() for t in self._threads))

    def stuck_for(self) -> float:
        """Seconds the current batch has been failing (0 when writes succeed)."""
        since = self.failing_since
        return 0.0 if since is None else time.monotonic() - since

    def insert_running_for(self) -> float:
        """Seconds the insert in progress has been running (0 when none is)."""
        began = self._insert_began
        return 0.0 if began is None else time.monotonic() - began

    def health(self) -> list[str]:
        """Why spans may not reach storage now: a dead thread, a batch failing or an insert
        running for ``stuck_seconds``, a dead letter in the last ``unready_seconds``."""
        reasons = []
        if not self.alive():
            reasons.append("a writer thread has died; see the log")
        stuck, running = self.stuck_for(), self.insert_running_for()
        if stuck >= self.stuck_seconds:
            reasons.append(f"the writer has retried one batch for {stuck:.0f} s: {self.last_error}")
        elif running >= self.stuck_seconds:
            reasons.append(f"one insert has been running for {running:.0f} s; new spans wait behind it")
        last = self.last_dead_letter
        if self.unready_seconds > 0 and last is not None and time.monotonic() - last < self.unready_seconds:
            held = self.dead_letters.counts() if self.dead_letters else {}
            causes = ", ".join(f"{c} ({n})" for c, n in sorted(held.items())) or "see the log"
            reasons.append(
                f"ClickHouse refused spans {time.monotonic() - last:.0f} s ago; they are in the dead-letter "
                f"store: {causes} (modeltrace deadletters list)"
            )
        return reasons

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
                interrupted = self._batch_between(start, end)
                interrupted.after_crash = True
                _use_attempt(interrupted, self.spool.attempt)
                self._queue.put(interrupted)
                position = end
            while True:
                try:
                    pending = self._collect(position)
                except OSError as exc:  # the spool's disk failed to read: try again from here
                    self.last_error = f"cannot read the spool: {exc}"
                    self._count("spool_errors", 1)
                    log.error("cannot read the spool (retrying in 1s): %s", exc)
                    if self._stop.wait(1.0):
                        return
                    continue
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
        pending = PendingBatch(Batch(), start, start, 0)
        hasher = _Hasher()
        size = 0
        first: Position | None = None
        position = start
        deadline: float | None = None
        while True:
            # Small reads: records beyond this batch would only be read again for the next one.
            for record in self.spool.read(position, 16, 4 << 20):
                self._add_record(record, pending, hasher)
                first = first or record.start
                position = record.end
                size += len(record.payload)
                if pending.batch.spans >= self.batch_spans or size >= self.max_batch_bytes:
                    return self._seal(pending, first, position, hasher)
            now = time.monotonic()
            if pending.records and deadline is None:
                deadline = now + self.max_delay
            due = deadline is not None and now >= deadline and self._inserter_idle.is_set()
            if first is not None and (self._stop.is_set() or due):
                return self._seal(pending, first, position, hasher)
            if first is None and self._stop.is_set():
                return None
            self.spool.wait(position, 0.05 if deadline else 0.25)

    def _batch_between(self, start: Position, end: Position) -> PendingBatch:
        """Rebuild exactly the batch a crash interrupted, so its token matches."""
        pending = PendingBatch(Batch(), start, start, 0)
        hasher = _Hasher()
        position = start
        while (position.segment, position.offset) < (end.segment, end.offset):
            more = self.spool.read(position, 1000, self.max_batch_bytes)
            if not more:
                break
            for record in more:
                if (record.start.segment, record.start.offset) >= (end.segment, end.offset):
                    return self._seal(pending, start, end, hasher)
                self._add_record(record, pending, hasher)
            position = more[-1].end
        return self._seal(pending, start, end, hasher)

    @staticmethod
    def _seal(pending: PendingBatch, start: Position, end: Position, hasher: _Hasher) -> PendingBatch:
        pending.start, pending.end, pending.token = start, end, hasher.token()
        pending.base_token = pending.token
        return pending

    def _add_record(self, record: Record, pending: PendingBatch, hasher: _Hasher) -> None:
        hasher.add(record.payload)
        pending.records += 1
        batch = pending.batch
        before = batch.rows("otel_traces")
        spans = batch.spans
        try:
            flatten([record.payload], batch)
        except Exception:  # the receivers validated it; a damaged record must not stop the pipeline
            log.exception("skipping an undecodable spool record %d", record.seq)
            self._count("spool_records_undecodable", 1)
            # Cut what the record half-added, so every column keeps the same length.
            for columns in batch.columns.values():
                for column in columns:
                    del column[before:]
            batch.spans = spans
            return
        added = batch.rows("otel_traces") - before
        if added:
            pending.origins.append((record.start, added))

    # -- inserting ----------------------------------------------------------------------

    def _insert_loop(self) -> None:
        while True:
            self._inserter_idle.set()
            pending = self._queue.get()
            self._inserter_idle.clear()
            if pending is None:
                return
            try:
                written = self._write(pending)
            except Exception:
                # A bug, not a storage failure: stop here (the batch stays in the spool for the
                # next start) and let readiness report the dead thread.
                log.exception("the writer's insert thread stopped")
                self.last_error = "the insert thread stopped on an unexpected error; see the log"
                return
            if not written:
                # Shutting down with storage failing: the rest stays in the spool.
                return

    def _write(self, pending: PendingBatch) -> bool:
        batch, start, end = pending.batch, pending.start, pending.end
        if not self._retry_io(lambda: self.spool.begin(start, end, pending.attempt), "record the batch in the spool"):
            return False
        began = time.monotonic()
        stored = 0
        for table, names in TABLES.items():
            n = batch.rows(table)
            if not n:
                continue
            if pending.after_crash and table == "otel_traces":
                outcome = self._insert_after_crash(pending, table, names)
            else:
                outcome = self._insert_rows(pending, table, names, 0, n, set())
            if outcome is None:
                return False  # shutting down while storage fails: the batch stays in the spool
            if table == "otel_traces":
                stored += outcome
        self._observe(time.monotonic() - began, stored)
        batch.release()
        if not self._retry_io(lambda: self.spool.commit(end, pending.records), "advance the spool cursor"):
            return False
        self.healthy = True
        self.last_error = None
        self.failing_since = None
        return True

    def _insert_rows(
        self, pending: PendingBatch, table: str, names: tuple[str, ...], lo: int, hi: int, refused: set[str]
    ) -> int | None:
        """Store rows ``[lo, hi)`` of ``table``; returns how many were stored (None: stopping).

        ``refused``: causes already seen refusing rows of this batch; they are not retried."""
        columns = pending.batch.columns[table]
        whole = lo == 0 and hi == len(columns[0])
        token = f"{pending.token}:{table}" if whole else f"{pending.token}:{table}:{lo}-{hi}"
        unsure = 0
        first_failure = time.monotonic()
        delay = 0.2
        while True:
            try:
                ensure_schema = getattr(self.store, "ensure_schema", None)
                if ensure_schema is not None:
                    ensure_schema()
                part = columns if whole else [c[lo:hi] for c in columns]
                self._insert_began = time.monotonic()
                try:
                    self.store.insert(table, part, names, token, lane="write")
                finally:
                    self._insert_began = None
                return hi - lo
            except StorageError as exc:
                failure = classify(exc)
                unsure += failure.kind not in (REFUSED, RETRY)
                if self._gives_up(failure, unsure, hi - lo, refused, first_failure):
                    break
                self._failed(failure)
                log.warning("storage write failed (retrying in %.1fs): %s", delay, exc)
                if self._stop.wait(delay):
                    return None
                delay = min(delay * 2, self.backoff_max)
        refused.add(failure.cause)
        if self._rows_reached_the_table(pending, table, names, lo, hi):
            # The table took these rows and a materialized view failed after it: ClickHouse
            # inserts are not atomic across a table and its views. Splitting them under new
            # tokens would store them twice. Instead, the same insert again under the same
            # token (the table keeps one copy) with the views' errors ignored: every view that
            # can fill does, and the failing one goes without these rows, counted and logged.
            outcome = self._insert_ignoring_views(pending, table, names, lo, hi, token, failure)
            if outcome is not None:
                return outcome
        if hi - lo > 1:
            mid = (lo + hi) // 2
            left = self._insert_rows(pending, table, names, lo, mid, refused)
            if left is None:
                return None
            right = self._insert_rows(pending, table, names, mid, hi, refused)
            return None if right is None else left + right
        self._dead_letter(pending, table, names, lo, failure)
        return 0

    def _insert_after_crash(self, pending: PendingBatch, table: str, names: tuple[str, ...]) -> int | None:
        """Store the batch a crash interrupted, whatever part of it reached the table.

        The same token normally makes the replay exact. But when the process that died held the
        embedded engine, ClickHouse may have written the block to its deduplication log and not
        yet renamed the part holding its rows into place: under the same token those rows would
        be dropped as duplicates, for good. So the rows are looked up first. When none is stored,
        the batch goes under a new token that no log can have seen, recorded in the spool first
        so that a further crash replays that one. Otherwise the same token (or, after a split,
        the same tokens of its parts) stores what is missing once.

        Not covered: a block spread over several partitions (days) cut between two of its parts
        in that same instant (the missing part's rows stay lost), and a view's table cut in the
        same instant of its own insert (the span is stored, that view lacks its rows).
        """
        n = pending.batch.rows(table)
        stored = self._stored_pairs_retried(pending, table, names, n)
        if stored is None:
            return None  # stopping: the batch stays in the spool
        if not stored:
            attempt = pending.attempt + 1
            if not self._retry_io(
                lambda: self.spool.begin(pending.start, pending.end, attempt), "record the batch in the spool"
            ):
                return None
            _use_attempt(pending, attempt)
            self._count("spans_replayed_after_crash", n)
            log.info("a batch a crash interrupted is not in %s; it is stored under a new token", table)
        return self._insert_rows(pending, table, names, 0, n, set())

    def _stored_pairs_retried(
        self, pending: PendingBatch, table: str, names: tuple[str, ...], n: int
    ) -> set[tuple[str, str]] | None:
        """``_stored_pairs`` of the whole batch, asked again with backoff until storage answers
        (None: stopping). Without the answer the replay could lose the batch."""
        delay = 0.2
        while True:
            try:
                found = self._stored_pairs(pending, table, names, 0, n)
                # a store that cannot tell: as if every row were there (the same token, as before)
                return set(self._row_keys(pending, table, names, 0, n)) if found is None else found
            except StorageError as exc:
                self._failed(classify(exc))
                log.warning("cannot look up the batch a crash interrupted (retrying in %.1fs): %s", delay, exc)
                if self._stop.wait(delay):
                    return None
                delay = min(delay * 2, self.backoff_max)

    @staticmethod
    def _row_keys(pending: PendingBatch, table: str, names: tuple[str, ...], lo: int, hi: int) -> list[tuple[str, str]]:
        columns = pending.batch.columns[table]
        return list(zip(columns[names.index("TraceId")][lo:hi], columns[names.index("SpanId")][lo:hi]))

    def _stored_pairs(
        self, pending: PendingBatch, table: str, names: tuple[str, ...], lo: int, hi: int
    ) -> set[tuple[str, str]] | None:
        """Which rows ``[lo, hi)`` the table holds, by (trace id, span id); None: the store cannot
        tell. A storage failure is raised."""
        check = getattr(self.store, "spans_stored", None)
        if table != "otel_traces" or check is None:
            return None
        times = pending.batch.columns[table][names.index("Timestamp")][lo:hi]
        return set(check(self._row_keys(pending, table, names, lo, hi), min(times), max(times)))

    def _gives_up(self, failure: Failure, unsure: int, rows: int, refused: set[str], since: float) -> bool:
        """Whether to stop retrying rows and bisect them (or dead-letter a single row)."""
        if failure.kind == REFUSED:
            return True
        if failure.kind == RETRY:
            return False
        # Unsure: a few retries, then bisect. A single row waits longer before it is given up
        # on, so a passing server problem cannot empty a batch into the dead-letter store row
        # by row.
        if rows > 1:
            return failure.cause in refused or unsure > self.unsure_retries
        return time.monotonic() - since >= self.unsure_row_seconds

    def _rows_reached_the_table(
        self, pending: PendingBatch, table: str, names: tuple[str, ...], lo: int, hi: int
    ) -> bool:
        try:
            return bool(self._stored_pairs(pending, table, names, lo, hi))
        except StorageError as exc:
            log.warning("cannot tell whether a refused block reached %s (%s); splitting it", table, exc)
            return False

    def _insert_ignoring_views(
        self, pending: PendingBatch, table: str, names: tuple[str, ...], lo: int, hi: int, token: str, failure: Failure
    ) -> int | None:
        columns = pending.batch.columns[table]
        part = columns if (lo, hi) == (0, len(columns[0])) else [c[lo:hi] for c in columns]
        try:
            self.store.insert(table, part, names, token, lane="write", ignore_view_errors=True)
        except StorageError as exc:
            log.warning("a block that reached %s failed again with the views' errors ignored: %s", table, exc)
            return None
        self._count("view_rows_skipped", hi - lo, cause=failure.cause)
        key = f"view:{failure.cause}"
        if key not in self._causes_logged:
            self._causes_logged.add(key)
            log.error(
                "a materialized view refused %d span(s) that %s had stored (%s: %s); the spans are stored once, "
                "the view has no rows for them. Further cases of this cause are counted, not logged.",
                hi - lo,
                table,
                failure.cause,
                failure.message,
            )
        return hi - lo

    def _failed(self, failure: Failure) -> None:
        self.healthy = False
        self.last_error = f"{failure.cause}: {failure.message}"
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        self._count("storage_errors", 1)

    def _retry_io(self, step: Any, what: str) -> bool:
        """Run a spool bookkeeping step, retrying while the disk fails (full, read-only)."""
        delay = 0.2
        while True:
            try:
                step()
                return True
            except OSError as exc:
                self.healthy = False
                self.last_error = f"cannot {what}: {exc}"
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                self._count("spool_errors", 1)
                log.error("cannot %s (retrying in %.1fs): %s", what, delay, exc)
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, self.backoff_max)

    # -- dead letters -------------------------------------------------------------------

    def _dead_letter(
        self, pending: PendingBatch, table: str, names: tuple[str, ...], row: int, failure: Failure
    ) -> None:
        values = {name: column[row] for name, column in zip(names, pending.batch.columns[table])}
        request = self._recover_span(pending, row)
        letter = DeadLetter(
            table=table,
            cause=failure.cause,
            message=failure.message,
            time_ms=int(time.time() * 1000),
            request=request,
            service=str(values.get("ServiceName", "")),
            span_name=str(values.get("SpanName", "")),
            trace_id=str(values.get("TraceId", "")),
            span_id=str(values.get("SpanId", "")),
            start_ns=int(values.get("Timestamp", 0) or 0),
            row=None if request is not None else _plain_row(values),
            id=hashlib.blake2b(
                f"{pending.base_token or pending.token}:{table}:{row}".encode(), digest_size=8
            ).hexdigest(),
        )
        while True:
            try:
                added = self.dead_letters.add([letter]) if self.dead_letters is not None else 1
                break
            except OSError as exc:  # a full disk, no file descriptor left: the span waits here
                self.last_error = f"cannot write the dead-letter store: {exc}"
                if self.failing_since is None:  # /ready reports it once stuck_seconds have passed
                    self.failing_since = time.monotonic()
                log.error("cannot write the dead-letter store (retrying in 5s): %s", exc)
                if self._stop.wait(5.0):
                    raise
        self.last_dead_letter = time.monotonic()
        self._count("dead_letters", added, cause=failure.cause)
        if failure.cause not in self._causes_logged:
            self._causes_logged.add(failure.cause)
            log.error(
                "ClickHouse refused a span for good (%s: %s); it is kept in the dead-letter store "
                "(modeltrace deadletters list). Further refusals for this cause are counted, not logged.",
                failure.cause,
                failure.message,
            )
        else:
            log.debug("dead-lettered span %s (%s)", letter.span_id, failure.cause)

    def _recover_span(self, pending: PendingBatch, row: int) -> bytes | None:
        """The span behind ``row`` as a one-span request, re-read from its spool record."""
        offset = row
        for position, rows in pending.origins:
            if offset >= rows:
                offset -= rows
                continue
            try:
                records = self.spool.read(position, 1, MAX_RECORD + 1)
                request = ExportTraceServiceRequest()
                request.ParseFromString(records[0].payload)
            except Exception:
                log.exception("cannot re-read the spool record of a refused span")
                return None
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    if offset >= len(ss.spans):
                        offset -= len(ss.spans)
                        continue
                    one = ExportTraceServiceRequest()
                    out_rs = one.resource_spans.add()
                    out_rs.resource.CopyFrom(rs.resource)
                    out_rs.schema_url = rs.schema_url
                    out_ss = out_rs.scope_spans.add()
                    out_ss.scope.CopyFrom(ss.scope)
                    out_ss.schema_url = ss.schema_url
                    out_ss.spans.add().CopyFrom(ss.spans[offset])
                    return one.SerializeToString()
            return None
        return None

    def _observe(self, seconds: float, spans: int) -> None:
        if self.metrics is not None:
            self.metrics.observe_write(seconds, spans)

    def _count(self, name: str, n: int, **labels: str) -> None:
        if self.metrics is not None:
            self.metrics.inc(name, n, **labels)


def _use_attempt(pending: PendingBatch, attempt: int) -> None:
    pending.attempt = attempt
    pending.token = pending.base_token if not attempt else f"{pending.base_token}:after-crash-{attempt}"


def _plain_row(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, (str, int, float, bool, list, dict)) or v is None else str(v) for k, v in values.items()
    }

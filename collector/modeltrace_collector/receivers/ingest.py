"""What both OTLP receivers do with a request, and the one place errors are classified.

``Malformed`` is permanent (the client must not retry: INVALID_ARGUMENT / 400),
``Overloaded`` is retryable (UNAVAILABLE / 503 with a retry delay), ``TooLarge`` is
RESOURCE_EXHAUSTED / 413.

Spans the tables cannot hold (invalid ids, times past what the time columns hold) are
refused one by one and reported through OTLP partial success, with a count and a reason;
the rest of the request is stored. A span that ends before it starts is stored with a
duration of 0 and counted in ``spans_corrected``. An ``ml.*`` attribute that the views parse as
JSON and that is over ``max_ml_json_bytes`` is kept under ``<key>.oversize`` instead, where no
view reads it (a view handed tens of megabytes of JSON can fail after the span's row is
stored); the client hears of it through partial success with zero spans rejected.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from modeltrace import attributes as ml

from ..pipeline.spool import Spool, SpoolFull

RETRY_AFTER_SECONDS = 2


class Malformed(Exception):
    pass


class Overloaded(Exception):
    pass


class TooLarge(Exception):
    pass


@dataclass(frozen=True)
class Accepted:
    spans: int
    rejected: int = 0
    message: str = ""


# The newest time every table can hold: derived tables keep times as DateTime (seconds in
# 32 bits), whose range ends at 2106-02-07T06:28:15Z; DateTime64(9) itself ends in 2262.
# A later time would be stored in otel_traces but wrap around or saturate in the rollups.
MAX_TIME_NS = 4_294_967_295 * 1_000_000_000
MAX_TIME_TEXT = "2106-02-07T06:28:15Z"
_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)

# Why a span was refused: the reason label in metrics, and the phrase in partial_success.
REASONS = {
    "invalid_id": "an invalid trace or span id (a trace id is 16 bytes, a span id 8, neither all zero)",
    "time_out_of_range": f"a start, end or event time after {MAX_TIME_TEXT}, the last time the tables hold",
    "time_in_future": "a start, end or event time further ahead of the collector's clock than "
    "receivers.max_future_seconds",
    "older_than_retention": "a start time older than the retention (storage.ttl_days): it would be deleted at once",
}


def refusal(span: Any, oldest: int = 0, newest: int = MAX_TIME_NS) -> str | None:
    """Why the tables cannot hold ``span`` (a key of ``REASONS``), or None when they can.

    ``oldest``/``newest``: the start times accepted now (retention, clock skew), in ns."""
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    if (
        len(trace_id) != 16
        or len(span_id) != 8
        or len(parent) not in (0, 8)
        or trace_id == _ZERO_TRACE_ID
        or span_id == _ZERO_SPAN_ID
    ):
        return "invalid_id"
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    latest = max(start, end, max((e.time_unix_nano for e in span.events), default=0) if span.events else 0)
    if latest > newest:
        return "time_out_of_range" if latest > MAX_TIME_NS else "time_in_future"
    if start < oldest:
        return "older_than_retention"
    return None


# The attributes the materialized views parse as JSON (storage/migrations).
OVERSIZE_SUFFIX = ".oversize"
MAX_ML_JSON_BYTES = 1 << 20


def park_oversize(request: ExportTraceServiceRequest, limit: int) -> int:
    """Move ``ml.*`` JSON attributes over ``limit`` bytes to ``<key>.oversize``; returns the spans changed."""
    changed = 0
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                hit = False
                if len(span.attributes) > MAX_ATTRIBUTES_PER_SPAN:
                    raise Malformed(f"a span of more than {MAX_ATTRIBUTES_PER_SPAN} attributes")
                for kv in span.attributes:
                    if kv.key in ml.JSON_PARSED and kv.value.ByteSize() > limit:
                        kv.key += OVERSIZE_SUFFIX
                        hit = True
                changed += hit
    return changed


def refusal_message(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    parts = [f"{n} with {REASONS[reason]}" for reason, n in sorted(counts.items())]
    return f"{total} span(s) refused: " + "; ".join(parts)


# A protobuf request can take about thirty times its size once decoded (a body made of tiny
# empty messages: two bytes on the wire, some sixty in memory each). Requests from this size on
# are decoded LARGE_DECODES at a time (the others are refused at once, to retry: they do not wait
# holding a worker), and not at all while the process is over its memory bound.
LARGE_DECODE_BYTES = 1 << 20
LARGE_DECODES = 1
# No real request comes near these (a span takes some sixty bytes at the very least); a request
# past them is a pile of empty messages, refused before anything walks through it.
MAX_SPANS_PER_REQUEST = 1_000_000
MAX_GROUPS_PER_REQUEST = 100_000  # resource and scope groups
MAX_ATTRIBUTES_PER_SPAN = 100_000  # OpenTelemetry SDKs keep 128 by default


def _memory_bound() -> int:
    """Half of the memory this process may use: the cgroup's limit, else the machine's."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as f:
            text = f.read().strip()
        if text.isdigit():
            total = min(total, int(text))
    except OSError:
        pass
    return total // 2


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class DecodeGate:
    """Admits the decoding of large requests a few at a time, within a memory bound."""

    def __init__(self, slots: int = LARGE_DECODES, memory_bound: int | None = None) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self.memory_bound = _memory_bound() if memory_bound is None else memory_bound

    @contextlib.contextmanager
    def admit(self, size: int) -> Iterator[None]:
        if size < LARGE_DECODE_BYTES:
            yield
            return
        if self.memory_bound and _resident_bytes() > self.memory_bound:
            raise Overloaded(f"the collector holds more than {self.memory_bound >> 20} MiB: try again shortly")
        # no wait: a request waiting here would hold a worker thread that small requests need
        if not self._slots.acquire(blocking=False):
            raise Overloaded("another large request is being decoded: try again shortly")
        try:
            yield
        finally:
            self._slots.release()


GATE = DecodeGate()


def decode(raw: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(raw)
    except (DecodeError, ValueError) as exc:
        raise Malformed(f"cannot decode ExportTraceServiceRequest: {exc}") from exc
    return request


def ingest(
    spool: Spool,
    request: ExportTraceServiceRequest,
    raw: bytes | None,
    metrics: Any,
    forward: Callable[[bytes], None] | None = None,
    max_ml_json_bytes: int = MAX_ML_JSON_BYTES,
    window: tuple[int, int] = (0, MAX_TIME_NS),
) -> Accepted:
    """Spool a decoded request (``raw`` is its encoding when the client's bytes can be kept),
    then hand it to ``forward`` (which must not block) when forwarding is on."""
    _check_shape(request)
    parked = 0
    # No attribute can be over the limit when the whole request is not: most requests skip the scan.
    if (len(raw) if raw is not None else request.ByteSize()) > max_ml_json_bytes:
        parked = park_oversize(request, max_ml_json_bytes)
        if parked:
            raw = None
    total, refused, backwards = _screen(request, *window)
    bad = sum(refused.values())
    if bad:
        raw = None
    accepted = total - bad
    if accepted:
        payload = raw if raw is not None else request.SerializeToString()
        try:
            spool.append(payload)
        except SpoolFull as exc:
            metrics.inc("spans_rejected", total)
            metrics.inc("requests_rejected", reason="spool_full")
            raise Overloaded(str(exc)) from exc
        if forward is not None:
            forward(payload)
    metrics.inc("spans_received", accepted)
    if backwards:
        # Stored with a duration of 0, as documented; counted so the correction is visible.
        metrics.inc("spans_corrected", backwards, reason="end_before_start")
    warning = _parked_warning(metrics, parked, max_ml_json_bytes)
    if bad:
        for reason, n in refused.items():
            metrics.inc("spans_refused", n, reason=reason)
        metrics.inc("spans_rejected", bad)
        return Accepted(accepted, bad, "; ".join(m for m in (refusal_message(refused), warning) if m))
    return Accepted(accepted, 0, warning)


def _check_shape(request: ExportTraceServiceRequest) -> None:
    """Malformed when the request holds more spans or groups than any real one does (counted
    without walking the spans)."""
    groups = len(request.resource_spans)
    spans = 0
    if groups <= MAX_GROUPS_PER_REQUEST:
        for rs in request.resource_spans:
            groups += len(rs.scope_spans)
            if groups > MAX_GROUPS_PER_REQUEST:
                break
            spans += sum(len(ss.spans) for ss in rs.scope_spans)
    if groups > MAX_GROUPS_PER_REQUEST or spans > MAX_SPANS_PER_REQUEST:
        raise Malformed(
            f"a request of more than {MAX_GROUPS_PER_REQUEST} resource and scope groups or {MAX_SPANS_PER_REQUEST} "
            "spans: send fewer spans a request"
        )


def _screen(request: ExportTraceServiceRequest, oldest: int, newest: int) -> tuple[int, dict[str, int], int]:
    """Count the spans, drop those the tables cannot hold (refused, by reason) from the request
    and count those stored with a correction (end before start): (total, refused, backwards)."""
    total = backwards = 0
    refused: dict[str, int] = {}
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                total += 1
                reason = refusal(span, oldest, newest)
                if reason is not None:
                    refused[reason] = refused.get(reason, 0) + 1
                elif span.end_time_unix_nano < span.start_time_unix_nano:
                    backwards += 1
    if refused:  # rare: a second pass takes the refused spans out
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                keep = [span for span in ss.spans if refusal(span, oldest, newest) is None]
                del ss.spans[:]
                ss.spans.extend(keep)
    return total, refused, backwards


def _parked_warning(metrics: Any, parked: int, limit: int) -> str:
    if not parked:
        return ""
    metrics.inc("spans_corrected", parked, reason="ml_json_too_large")
    return (
        f"{parked} span(s) stored with an ml.* JSON attribute over {limit} bytes kept under "
        f"<key>{OVERSIZE_SUFFIX}, which the ml_* tables do not read"
    )


@dataclass
class Door:
    """Where every OTLP request enters, whichever receiver it came by (or a dead-letter replay):
    the span checks, the spool, and forwarding."""

    spool: Spool
    metrics: Any
    forward: Callable[[bytes], None] | None = None
    max_ml_json_bytes: int = MAX_ML_JSON_BYTES
    max_future_seconds: float = 0.0
    """Start times this far ahead of the collector's clock at most (0: up to the tables' end)."""
    retention_seconds: float = 0.0
    """Start times at most this old (0: any): older ones would be deleted by the TTL at once."""

    def accept_raw(self, raw: bytes) -> Accepted:
        """Decode an encoded request (a large one through the decode gate) and accept it.

        A refusal is raised anew once the decoded request is gone: the first exception's
        traceback holds the frames that hold the request, which would outlive the gate."""
        with GATE.admit(len(raw)):
            request = decode(raw)
            try:
                return self.accept(request, raw)
            except (Malformed, Overloaded) as exc:
                failure = type(exc)(str(exc))
            del request
        raise failure

    def accept(self, request: ExportTraceServiceRequest, raw: bytes | None) -> Accepted:
        now = time.time_ns()
        newest = min(MAX_TIME_NS, now + int(self.max_future_seconds * 1e9)) if self.max_future_seconds else MAX_TIME_NS
        oldest = max(0, now - int(self.retention_seconds * 1e9)) if self.retention_seconds else 0
        return ingest(self.spool, request, raw, self.metrics, self.forward, self.max_ml_json_bytes, (oldest, newest))

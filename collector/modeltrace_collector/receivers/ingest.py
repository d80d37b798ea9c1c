"""What both OTLP receivers do with a request, and the one place errors are classified.

``Malformed`` is permanent (the client must not retry: INVALID_ARGUMENT / 400),
``Overloaded`` is retryable (UNAVAILABLE / 503 with a retry delay), ``TooLarge`` is
RESOURCE_EXHAUSTED / 413.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

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


def _valid_ids(span: Any) -> bool:
    return len(span.trace_id) == 16 and len(span.span_id) == 8 and len(span.parent_span_id) in (0, 8)


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
) -> Accepted:
    """Spool a decoded request (``raw`` is its encoding when the client's bytes can be kept),
    then hand it to ``forward`` (which must not block) when forwarding is on."""
    total = 0
    bad = 0
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                total += 1
                if not _valid_ids(span):
                    bad += 1
    if bad:
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                keep = [s for s in ss.spans if _valid_ids(s)]
                del ss.spans[:]
                ss.spans.extend(keep)
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
    if bad:
        metrics.inc("spans_rejected", bad)
        return Accepted(accepted, bad, f"{bad} span(s) with an invalid trace or span id were dropped")
    return Accepted(accepted)

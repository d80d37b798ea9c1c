"""OTLP trace requests to column batches for ``otel_traces``.

Strings are written the way the OpenTelemetry Collector's ClickHouse exporter writes them
(attribute values as strings, ``SpanKind``/``StatusCode`` as ``Server``/``Error``), so
Grafana and other OTel tooling read the same table. The OTLP type of every attribute that is
not a string goes to ``AttributeTypes`` (see ``storage/schema.py``), so that readers give the
values back typed.

The typed ``ml_*`` tables are not filled from Python: materialized views in ClickHouse
derive them from each ``otel_traces`` insert (migrations 0010-0013), parsing the ``ml.*``
JSON in C++. A span whose ``ml.*`` JSON is malformed is still stored in ``otel_traces``;
the views skip the bad part and ``ml_predictions.MalformedFields`` counts it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ..storage.schema import (
    EVENT_SCOPE,
    LINK_SCOPE,
    RESOURCE_SCOPE,
    SPAN_KINDS,
    SPAN_SCOPE,
    STATUS_CODES,
    TRACE_COLUMNS,
    TRACES,
    VALUE_TYPES,
    any_value_str,
)

_KINDS = dict(enumerate(SPAN_KINDS))
_CODES = dict(enumerate(STATUS_CODES))
TABLES = {TRACES: TRACE_COLUMNS}


@dataclass
class Batch:
    """Column-oriented rows for each table, plus what was skipped."""

    columns: dict[str, list[list[Any]]] = field(
        default_factory=lambda: {t: [[] for _ in cols] for t, cols in TABLES.items()}
    )
    spans: int = 0

    def rows(self, table: str) -> int:
        return len(self.columns[table][0])

    def release(self) -> None:
        """Empty the columns in place once stored.

        clickhouse-connect's ``InsertContext`` refers to itself through a bound method, so
        it lives until a full garbage collection, and with it the columns it was given.
        Emptying them frees a stored batch at once instead of letting batches pile up.
        """
        for columns in self.columns.values():
            for column in columns:
                column.clear()


def attributes(kvs: Iterable[Any], types: dict[str, str] | None = None, scope: str = "") -> dict[str, str]:
    """Attribute values as the exporter's strings; the type of each one that is not a string is
    added to ``types`` under its AttributeTypes key (``<scope>.<key>``)."""
    out: dict[str, str] = {}
    for kv in kvs:
        v = kv.value
        kind = v.WhichOneof("value")
        # Most values are strings, then ints: the fast paths of the hot loop of ingest.
        if kind == "string_value":
            out[kv.key] = v.string_value
            continue
        key = kv.key
        if kind == "int_value":
            out[key] = str(v.int_value)
        else:
            out[key] = any_value_str(v)
        type_name = VALUE_TYPES.get(kind)
        if type_name is not None and types is not None:
            types[scope + "." + key] = type_name
    return out


_EMPTY: list[Any] = []


_ZERO_IDS = {0: b"", 8: bytes(8), 16: bytes(16)}


def _hex(b: bytes) -> str:
    """Lowercase hex, or ``''`` for an all-zero (unset) id, as the exporter writes it."""
    return "" if b == _ZERO_IDS.get(len(b)) else b.hex()


def flatten(requests: Iterable[bytes | ExportTraceServiceRequest], batch: Batch | None = None) -> Batch:
    """Add the spans of encoded ``ExportTraceServiceRequest`` messages to a batch."""
    batch = batch or Batch()
    t = batch.columns["otel_traces"]
    for raw in requests:
        if isinstance(raw, bytes):
            request = ExportTraceServiceRequest()
            request.ParseFromString(raw)
        else:
            request = raw
        for rs in request.resource_spans:
            resource_types: dict[str, str] = {}
            resource = attributes(rs.resource.attributes, resource_types, RESOURCE_SCOPE)
            service = resource.get("service.name", "")
            for ss in rs.scope_spans:
                scope_name, scope_version = ss.scope.name, ss.scope.version
                for span in ss.spans:
                    start = span.start_time_unix_nano
                    duration = max(0, span.end_time_unix_nano - start)
                    trace_id = _hex(span.trace_id)
                    span_id = _hex(span.span_id)
                    parent = _hex(span.parent_span_id)
                    types = resource_types.copy()
                    span_attrs = attributes(span.attributes, types, SPAN_SCOPE)
                    kind = _KINDS.get(span.kind, "Unspecified")
                    status = span.status
                    code = _CODES.get(status.code, "Unset")
                    t[0].append(start)
                    t[1].append(trace_id)
                    t[2].append(span_id)
                    t[3].append(parent)
                    t[4].append(span.trace_state)
                    t[5].append(span.name)
                    t[6].append(kind)
                    t[7].append(service)
                    t[8].append(resource)
                    t[9].append(scope_name)
                    t[10].append(scope_version)
                    t[11].append(span_attrs)
                    t[12].append(duration)
                    t[13].append(code)
                    t[14].append(status.message)
                    events = span.events
                    if events:
                        t[15].append([e.time_unix_nano for e in events])
                        t[16].append([e.name for e in events])
                        t[17].append(
                            [attributes(e.attributes, types, f"{EVENT_SCOPE}.{i}") for i, e in enumerate(events)]
                        )
                    else:  # the usual case; the driver only reads these lists
                        t[15].append(_EMPTY)
                        t[16].append(_EMPTY)
                        t[17].append(_EMPTY)
                    links = span.links
                    if links:
                        t[18].append([_hex(link.trace_id) for link in links])
                        t[19].append([_hex(link.span_id) for link in links])
                        t[20].append([link.trace_state for link in links])
                        t[21].append(
                            [attributes(ln.attributes, types, f"{LINK_SCOPE}.{i}") for i, ln in enumerate(links)]
                        )
                    else:
                        t[18].append(_EMPTY)
                        t[19].append(_EMPTY)
                        t[20].append(_EMPTY)
                        t[21].append(_EMPTY)
                    t[22].append(types)
                    batch.spans += 1
    return batch

"""Traces read back from ``otel_traces`` for the read side (Jaeger's gRPC and HTTP APIs, the
API, the UI): services, operations, searches, whole traces as OTLP, and service dependencies,
all as parameterised ClickHouse queries (``query/sql/trace_*.sql``).

``otel_traces`` keeps every attribute value as a string (the OpenTelemetry Collector's
ClickHouse exporter does the same) and, in ``AttributeTypes``, the OTLP type of each value that
is not a string (``storage/schema.py``): values come back with that type (ints, doubles,
bools, bytes, arrays and kvlists). Rows with no types recorded (written by another writer, such
as the exporter itself, or before the column existed) get the types that are known by name:
the ints and bools of the ``ml.*`` span contract and common OpenTelemetry conventions;
everything else comes back as the string it was stored as.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status, TracesData

from modeltrace import attributes as ml

from ..storage import sqlfiles
from ..storage.schema import (
    ATTRIBUTE_TYPES,
    EVENT_SCOPE,
    LINK_SCOPE,
    RESOURCE_SCOPE,
    SPAN_KINDS,
    SPAN_SCOPE,
    STATUS_CODES,
)
from ..storage.store import StoreView

log = logging.getLogger("modeltrace.jaeger")

INT_ATTRIBUTES = ml.INT_VALUED | frozenset(
    {
        "http.status_code",
        "http.response.status_code",
        "http.request.body.size",
        "http.response.body.size",
        "rpc.grpc.status_code",
        "server.port",
        "client.port",
        "net.peer.port",
        "net.host.port",
        "network.peer.port",
        "process.pid",
        "thread.id",
        "code.lineno",
        "code.line.number",
        "messaging.batch.message_count",
    }
)
BOOL_ATTRIBUTES = ml.BOOL_VALUED | {"exception.escaped", "error"}
FLOAT_ATTRIBUTES = frozenset({"sampling.probability"})
# Jaeger's span attribute for warnings about a span or trace (a list of strings).
WARNINGS_ATTRIBUTE = "@jaeger@warnings"
# Jaeger's names for span kinds, and the stored ones (the exporter's "Server", ...).
JAEGER_KINDS = {"Internal": "internal", "Server": "server", "Client": "client", "Producer": "producer",
                "Consumer": "consumer", "Unspecified": ""}  # fmt: skip
STORED_KINDS = {v: k for k, v in JAEGER_KINDS.items() if v}

SPAN_COLUMNS = f"""
    Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
    ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage,
    Events.Timestamp, Events.Name, Events.Attributes, Links.TraceId, Links.SpanId, Links.TraceState,
    Links.Attributes, {ATTRIBUTE_TYPES}
"""
_INT64 = range(-(2**63), 2**63)
_RESOURCE_PREFIX = RESOURCE_SCOPE + "."


def kind_number(kind: str) -> int:
    """A stored span kind ("Server", or "SPAN_KIND_SERVER" from other writers) as the OTLP enum."""
    name = kind.removeprefix("SPAN_KIND_").capitalize()
    return SPAN_KINDS.index(name) if name in SPAN_KINDS else Span.SPAN_KIND_UNSPECIFIED


def status_number(code: str) -> int:
    name = code.removeprefix("STATUS_CODE_").capitalize()
    return STATUS_CODES.index(name) if name in STATUS_CODES else Status.STATUS_CODE_UNSET


def known_type(key: str, value: str) -> Any:
    """The stored string of an attribute whose type was not recorded, as the Python value of the
    type its name is known to have (an int, a bool or a float), else the string itself."""
    try:
        if key in INT_ATTRIBUTES:
            return int(value)
        if key in BOOL_ATTRIBUTES and value in ("true", "false"):
            return value == "true"
        if key in FLOAT_ATTRIBUTES:
            return float(value)
    except ValueError:
        pass
    return value


def decode_value(type_name: str, value: str) -> Any:
    """A stored attribute string as the Python value of its recorded OTLP type (an
    ``AttributeTypes`` value): int, float, bool, bytes, list (array) or dict (kvlist).
    A string that does not read as its type, or an unknown type, stays the string."""
    try:
        if type_name == "int":
            return int(value)
        if type_name == "double":
            return float(value)  # also "nan", "inf" and "-inf"
        if type_name == "bool":
            if value in ("true", "false"):
                return value == "true"
        elif type_name == "bytes":
            return base64.b64decode(value, validate=True)
        elif type_name in ("array", "kvlist"):
            decoded = json.loads(value)
            if isinstance(decoded, list if type_name == "array" else dict):
                return decoded
    except (ValueError, binascii.Error, RecursionError):
        pass
    return value


def typed_attributes(values: Mapping[str, str], types: Mapping[str, str], scope: str = SPAN_SCOPE) -> dict[str, Any]:
    """One attribute map of a stored ``otel_traces`` row with each value as the Python value of
    its OTLP type: str, int, float, bool, bytes, list (an array) or dict (a kvlist); array and
    kvlist members are JSON values (bytes and non-finite doubles inside them are strings).

    ``values``: the map as stored (``SpanAttributes``, ``ResourceAttributes``, an element of
    ``Events.Attributes`` or ``Links.Attributes``); ``types``: the row's ``AttributeTypes``
    column as stored; ``scope``: which map ``values`` is: ``"span"`` (the default),
    ``"resource"``, ``"event.<i>"`` or ``"link.<i>"`` (the i-th event or link, from 0).
    A row without any type recorded (another writer's, or older than the column) gets the
    types known by name (``known_type``)."""
    if not types:
        return {k: known_type(k, v) for k, v in values.items()}
    prefix = scope + "."
    out: dict[str, Any] = {}
    for k, v in values.items():
        type_name = types.get(prefix + k)
        out[k] = v if type_name is None else decode_value(type_name, v)
    return out


def any_value(value: Any) -> AnyValue:
    """A Python value (as ``typed_attributes`` gives it) as an OTLP AnyValue."""
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value) if value in _INT64 else AnyValue(string_value=str(value))
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        kvs = [KeyValue(key=str(k), value=any_value(v)) for k, v in value.items()]
        return AnyValue(kvlist_value=KeyValueList(values=kvs))
    return AnyValue()  # null


def typed(key: str, value: str) -> AnyValue:
    """The stored string of an attribute without a recorded type as an OTLP AnyValue of the
    type its name is known to have."""
    return any_value(known_type(key, value))


def key_values(
    attrs: Mapping[str, str], types: Mapping[str, str] | None = None, scope: str = SPAN_SCOPE
) -> list[KeyValue]:
    """A stored attribute map as OTLP key-values, typed (see ``typed_attributes``), by key."""
    typed_values = typed_attributes(attrs, types or {}, scope)
    return [KeyValue(key=k, value=any_value(v)) for k, v in sorted(typed_values.items())]


def _ns(t: Any) -> int:
    """DateTime64(9) as read by clickhouse-connect (a naive UTC datetime, microseconds) to ns."""
    if isinstance(t, int):
        return t
    if not isinstance(t, dt.datetime):
        raise TypeError(f"a DateTime64 read back as {type(t).__name__}")
    moment: dt.datetime = t if t.tzinfo is not None else t.replace(tzinfo=dt.timezone.utc)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


@dataclass
class TraceQuery:
    """A search: every set condition must hold for one span of a trace."""

    service: str = ""
    operation: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    start_min_ns: int = 0
    start_max_ns: int = 0
    duration_min_ns: int = 0
    duration_max_ns: int = 0
    limit: int = 20
    offset: int = 0  # traces of earlier pages to skip (newest first)


# TraceQuery fields and the condition each puts on a span when set
SEARCH_FILTERS = (
    ("service", "ServiceName = {service:String}"),
    ("operation", "SpanName = {operation:String}"),
    ("start_min_ns", "Timestamp >= fromUnixTimestamp64Nano({start_min_ns:Int64})"),
    ("start_max_ns", "Timestamp <= fromUnixTimestamp64Nano({start_max_ns:Int64})"),
    ("duration_min_ns", "Duration >= {duration_min_ns:UInt64}"),
    ("duration_max_ns", "Duration <= {duration_max_ns:UInt64}"),
)


@dataclass
class FoundTrace:
    trace_id: str
    start_ns: int
    end_ns: int


class TraceReader:
    """Read-side queries over ``otel_traces`` shared by the Jaeger gRPC storage API and the
    Jaeger HTTP API."""

    def __init__(self, store: StoreView, max_trace_spans: int = 10_000, max_search_traces: int = 1000) -> None:
        self.store = store
        self.max_trace_spans = max_trace_spans
        self.max_search_traces = max_search_traces

    def _sql(self, name: str, **fragments: str) -> str:
        return sqlfiles.query(__package__, name, self.store.database, **fragments)

    def services(self) -> list[str]:
        return [r[0] for r in self.store.query(self._sql("trace_services")).result_rows]

    def operations(self, service: str, span_kind: str = "") -> list[tuple[str, str]]:
        """(name, Jaeger span kind) pairs of a service; ``span_kind`` ("server", ...) narrows them."""
        stored = STORED_KINDS.get(span_kind.lower(), "") if span_kind else ""
        if span_kind and not stored:
            return []
        rows = self.store.query(self._sql("trace_operations"), {"service": service, "kind": stored}).result_rows
        return sorted({(r[0], JAEGER_KINDS[SPAN_KINDS[kind_number(r[1])]]) for r in rows})

    def find_trace_ids(self, q: TraceQuery) -> list[FoundTrace]:
        """Traces with a span matching ``q``, newest first, each with the range its spans start
        in (from ``otel_traces_trace_id_ts``, whole seconds: a hint for fetching them)."""
        conditions = ["TraceId != ''"]
        params: dict[str, Any] = {
            "limit": max(1, min(q.limit or 20, self.max_search_traces)),
            "offset": max(0, q.offset),
        }
        for name, condition in SEARCH_FILTERS:
            value = getattr(q, name)
            if value:
                conditions.append(condition)
                params[name] = value
        for i, (key, value) in enumerate(sorted(q.attributes.items())):
            params[f"k{i}"], params[f"v{i}"] = key, value
            if key == "error" and value in ("true", "false"):
                # Jaeger's error tag is the span status here
                op = "IN" if value == "true" else "NOT IN"
                conditions.append(f"StatusCode {op} ('Error', 'STATUS_CODE_ERROR')")
            elif key == "span.kind":
                conditions.append(f"SpanKind IN ({{v{i}:String}}, concat('SPAN_KIND_', upper({{v{i}:String}})))")
                params[f"v{i}"] = STORED_KINDS.get(value.lower(), value)
            else:
                conditions.append(
                    f"(SpanAttributes[{{k{i}:String}}] = {{v{i}:String}} "
                    f"OR ResourceAttributes[{{k{i}:String}}] = {{v{i}:String}})"
                )
        rows = self.store.query(self._sql("trace_search", conditions=" AND ".join(conditions)), params).result_rows
        if not rows:
            return []
        bounds = {
            r[0]: (int(r[1]), int(r[2]))
            for r in self.store.query(self._sql("trace_bounds"), {"ids": [r[0] for r in rows]}).result_rows
        }
        out = []
        for trace_id, first, last in rows:
            lo, hi = bounds.get(trace_id, (int(first) // 10**9, int(last) // 10**9 + 1))
            out.append(FoundTrace(trace_id, min(lo * 10**9, int(first)), max(hi * 10**9, int(first))))
        return out

    def find_traces(self, q: TraceQuery) -> list[tuple[str, list[tuple[Any, ...]], int | None]]:
        """The traces ``q`` finds, newest first, whole: (trace id, its stored rows, its real span
        count when the rows were capped)."""
        found = self.find_trace_ids(q)
        if not found:
            return []
        rows, totals = self.spans(
            [f.trace_id for f in found], min(f.start_ns for f in found), max(f.end_ns for f in found)
        )
        return [(f.trace_id, rows[f.trace_id], totals.get(f.trace_id)) for f in found if f.trace_id in rows]

    def spans(
        self, trace_ids: list[str], start_ns: int = 0, end_ns: int = 0
    ) -> tuple[dict[str, list[tuple[Any, ...]]], dict[str, int]]:
        """The stored rows of these traces, per trace id in start order, capped at
        ``max_trace_spans`` each; also how many spans each capped trace really has.

        Without a time range, each trace's range comes from ``otel_traces_trace_id_ts``
        (as Grafana does), so the scan touches the trace's partitions only."""
        if not trace_ids:
            return {}, {}
        params: dict[str, Any] = {"ids": trace_ids, "cap": self.max_trace_spans}
        if start_ns and end_ns:
            time_filter = (
                "Timestamp >= fromUnixTimestamp64Nano({start:Int64}) "
                "AND Timestamp <= fromUnixTimestamp64Nano({end:Int64})"
            )
            params.update(start=start_ns, end=end_ns)
        else:
            time_filter = self._sql("trace_time_from_index")
        query = self._sql("trace_spans", span_columns=SPAN_COLUMNS, time_filter=time_filter)
        rows = self.store.query(query, params).result_rows
        out: dict[str, list[tuple[Any, ...]]] = {}
        for r in rows:
            out.setdefault(r[1], []).append(r)
        totals: dict[str, int] = {}
        full = [t for t, rs in out.items() if len(rs) >= self.max_trace_spans]
        if full:
            counted = self.store.query(
                self._sql("trace_span_counts", time_filter=time_filter), {**params, "full": full}
            ).result_rows
            totals = {r[0]: int(r[1]) for r in counted if int(r[1]) > self.max_trace_spans}
            for trace_id, n in totals.items():
                log.warning("trace %s has %d spans; returning the first %d", trace_id, n, self.max_trace_spans)
        return out, totals

    def dependencies(self, start_ns: int, end_ns: int) -> list[tuple[str, str, int]]:
        """(parent service, child service, calls): spans whose parent span belongs to another
        service, in the time range."""
        rows = self.store.query(self._sql("trace_dependencies"), {"start": start_ns, "end": end_ns}).result_rows
        return [(r[0], r[1], int(r[2])) for r in rows]


def traces_data(rows: list[tuple[Any, ...]], total: int | None = None) -> TracesData:
    """Stored rows of one trace as OTLP ``TracesData``, grouped by resource and scope.
    ``total``: the trace's real span count when ``rows`` were capped."""
    data = TracesData()
    resources: dict[tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]], ResourceSpans] = {}
    scopes: dict[tuple[int, str, str], ScopeSpans] = {}
    for i, r in enumerate(rows):
        (ts, trace_id, span_id, parent, trace_state, name, kind, service, res_attrs, scope_name, scope_version,
         span_attrs, duration, status, status_message, ev_ts, ev_names, ev_attrs, ln_trace, ln_span, ln_state,
         ln_attrs, types) = r  # fmt: skip
        res_types = tuple(sorted(kv for kv in types.items() if kv[0].startswith(_RESOURCE_PREFIX))) if types else ()
        res_key = (service, tuple(sorted(res_attrs.items())), res_types)
        rs = resources.get(res_key)
        if rs is None:
            rs = data.resource_spans.add(resource=Resource(attributes=key_values(res_attrs, types, RESOURCE_SCOPE)))
            resources[res_key] = rs
        scope_key = (id(rs), scope_name, scope_version)
        ss = scopes.get(scope_key)
        if ss is None:
            ss = rs.scope_spans.add(scope=InstrumentationScope(name=scope_name, version=scope_version))
            scopes[scope_key] = ss
        start = _ns(ts)
        span = ss.spans.add(
            trace_id=bytes.fromhex(trace_id),
            span_id=bytes.fromhex(span_id),
            parent_span_id=bytes.fromhex(parent) if parent else b"",
            trace_state=trace_state,
            name=name,
            kind=kind_number(kind),
            start_time_unix_nano=start,
            end_time_unix_nano=start + int(duration),
            attributes=key_values(span_attrs, types, SPAN_SCOPE),
            status=Status(code=status_number(status), message=status_message),  # type: ignore[arg-type]
        )
        for n, (t, ev_name, attrs) in enumerate(zip(ev_ts, ev_names, ev_attrs)):
            span.events.add(
                time_unix_nano=_ns(t), name=ev_name, attributes=key_values(attrs, types, f"{EVENT_SCOPE}.{n}")
            )
        for n, (tid, sid, state, attrs) in enumerate(zip(ln_trace, ln_span, ln_state, ln_attrs)):
            span.links.add(
                trace_id=bytes.fromhex(tid), span_id=bytes.fromhex(sid), trace_state=state,
                attributes=key_values(attrs, types, f"{LINK_SCOPE}.{n}"),
            )  # fmt: skip
        if i == 0 and total is not None and total > len(rows):
            warning = f"trace has {total} spans; only the first {len(rows)} are shown"
            span.attributes.add(
                key=WARNINGS_ATTRIBUTE,
                value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=warning)])),
            )
    return data

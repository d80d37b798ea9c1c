"""The product's tables and how a span is spelled in them: one place for the names the write
path, the read side and the analyses share.

``otel_traces`` follows the OpenTelemetry Collector's ClickHouse exporter (the "contrib
schema"): attribute values are strings, ``SpanKind``/``StatusCode`` are words such as
``Server``/``Error``, so Grafana and other OpenTelemetry tooling read the same table. The
``ml_*`` tables are derived from it by materialized views (``storage/migrations``).

One column is the product's own: ``AttributeTypes`` records the OTLP type of every attribute
whose value is not a string, so readers can give values back with their types. Its keys name
the attribute with the map it is in (:func:`type_key`): ``span.<key>`` (``SpanAttributes``),
``resource.<key>`` (``ResourceAttributes``), ``event.<i>.<key>`` and ``link.<i>.<key>``
(``Events.Attributes[i+1]`` and ``Links.Attributes[i+1]``, ``i`` counted from 0); its values
are the names in :data:`VALUE_TYPES`. An attribute without an entry is a string. Rows from
other writers (the contrib exporter itself) leave it empty: their types are unknown.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

# Tables (in the configured database).
TRACES = "otel_traces"
TRACE_INDEX = "otel_traces_trace_id_ts"
PREDICTIONS = "ml_predictions"
FEATURES = "ml_features"
HOTSPOTS = "ml_hotspots"
ACTUALS = "ml_actuals"
REFERENCES = "ml_references"
FINDINGS = "ml_findings"
LATENCY_MINUTES = "ml_latency_minutes"
DRIFT_SCORES = "ml_drift_scores"
MIGRATIONS = "modeltrace_schema_migrations"
# The materialized views that fill the ml_* tables and the trace index from otel_traces.
VIEWS = tuple(f"{table}_mv" for table in (TRACE_INDEX, PREDICTIONS, FEATURES, HOTSPOTS, ACTUALS, LATENCY_MINUTES))
ALL_TABLES = (TRACES, TRACE_INDEX, PREDICTIONS, FEATURES, HOTSPOTS, ACTUALS, REFERENCES, FINDINGS,
              LATENCY_MINUTES, DRIFT_SCORES)  # fmt: skip

SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")

# The exporter's columns, in the order of its insert.
CONTRIB_TRACE_COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "SpanName", "SpanKind", "ServiceName",
    "ResourceAttributes", "ScopeName", "ScopeVersion", "SpanAttributes", "Duration", "StatusCode",
    "StatusMessage", "Events.Timestamp", "Events.Name", "Events.Attributes", "Links.TraceId", "Links.SpanId",
    "Links.TraceState", "Links.Attributes",
)  # fmt: skip
ATTRIBUTE_TYPES = "AttributeTypes"
# The columns the writer fills: the exporter's, then the attributes' types (migration 0035).
TRACE_COLUMNS = (*CONTRIB_TRACE_COLUMNS, ATTRIBUTE_TYPES)

# The OTLP value kinds AttributeTypes records, by their AnyValue field; a string is not recorded.
# Arrays and kvlists are stored as JSON text (as the exporter writes them), bytes in base64.
VALUE_TYPES = {
    "int_value": "int",
    "double_value": "double",
    "bool_value": "bool",
    "bytes_value": "bytes",
    "array_value": "array",
    "kvlist_value": "kvlist",
}
# The prefix of an AttributeTypes key for each attribute map of a row.
SPAN_SCOPE = "span"
RESOURCE_SCOPE = "resource"
EVENT_SCOPE = "event"
LINK_SCOPE = "link"


def type_key(scope: str, key: str) -> str:
    """The AttributeTypes key of attribute ``key`` in the map ``scope``: ``"span"``,
    ``"resource"``, ``"event.<i>"`` or ``"link.<i>"`` (the i-th event or link, from 0)."""
    return f"{scope}.{key}"


def any_value_str(v: Any) -> str:
    """An AnyValue as a string, as the Collector's ``AsString`` renders it."""
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value  # type: ignore[no-any-return]
    if kind == "bool_value":
        return "true" if v.bool_value else "false"
    if kind == "int_value":
        return str(v.int_value)
    if kind == "double_value":
        return _float_str(v.double_value)
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    if kind in ("array_value", "kvlist_value"):
        return json.dumps(_plain(v), separators=(",", ":"))
    return ""


def _float_str(f: float) -> str:
    if math.isfinite(f) and f == int(f) and abs(f) < 1e21:
        return str(int(f))
    return repr(f)


def _plain(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_plain(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    if kind == "double_value" and not math.isfinite(v.double_value):
        return str(v.double_value)
    return getattr(v, kind) if kind else None

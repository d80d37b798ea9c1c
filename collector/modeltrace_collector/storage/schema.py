"""The product's tables and how a span is spelled in them: one place for the names the write
path, the read side and the analyses share.

``otel_traces`` follows the OpenTelemetry Collector's ClickHouse exporter (the "contrib
schema"): attribute values are strings, ``SpanKind``/``StatusCode`` are words such as
``Server``/``Error``, so Grafana and other OpenTelemetry tooling read the same table. The
``ml_*`` tables are derived from it by materialized views (``storage/migrations``).
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

TRACE_COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "SpanName", "SpanKind", "ServiceName",
    "ResourceAttributes", "ScopeName", "ScopeVersion", "SpanAttributes", "Duration", "StatusCode",
    "StatusMessage", "Events.Timestamp", "Events.Name", "Events.Attributes", "Links.TraceId", "Links.SpanId",
    "Links.TraceState", "Links.Attributes",
)  # fmt: skip


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

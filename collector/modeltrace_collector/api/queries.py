"""The read API's questions, as parameterised ClickHouse SQL (never string-interpolated values)."""

from __future__ import annotations

from typing import Any

MODELS = """
SELECT ModelName AS model, ModelVersion AS version, count() AS calls,
       min(Timestamp) AS first_seen, max(Timestamp) AS last_seen
FROM {db}.ml_predictions
WHERE Timestamp >= now64(9) - toIntervalSecond({window:UInt32})
GROUP BY model, version
ORDER BY model, last_seen DESC
"""

LATENCY = """
SELECT ModelName AS model, ModelVersion AS version, Operation AS operation, count() AS calls,
       countIf(StatusCode = 'Error') AS errors,
       quantile(0.5)(Duration) / 1e6 AS p50_ms,
       quantile(0.95)(Duration) / 1e6 AS p95_ms,
       quantile(0.99)(Duration) / 1e6 AS p99_ms,
       max(Duration) / 1e6 AS max_ms
FROM {db}.ml_predictions
WHERE Timestamp >= now64(9) - toIntervalSecond({window:UInt32})
  AND ({model:String} = '' OR ModelName = {model:String})
GROUP BY model, version, operation
ORDER BY model, version, operation
"""

HOTSPOTS = """
SELECT ModelName AS model, ModelVersion AS version, Function AS function, File AS file, Line AS line,
       count() AS profiled_calls, sum(Calls) AS calls,
       sum(SelfMs) AS self_ms_total, avg(SelfMs) AS self_ms_avg, avg(CumMs) AS cum_ms_avg
FROM {db}.ml_hotspots
WHERE Timestamp >= now64(9) - toIntervalSecond({window:UInt32})
  AND ({model:String} = '' OR ModelName = {model:String})
GROUP BY model, version, function, file, line
ORDER BY model, version, self_ms_total DESC
LIMIT {limit:UInt32} BY model, version
"""

PREDICTIONS = """
SELECT Timestamp AS time, ModelName AS model, ModelVersion AS version, Operation AS operation,
       Duration / 1e6 AS duration_ms, InputRows AS rows, StatusCode AS status, ErrorType AS error_type,
       PredictionId AS prediction_id, TraceId AS trace_id, HostName AS host
FROM {db}.ml_predictions
WHERE ({model:String} = '' OR ModelName = {model:String})
ORDER BY Timestamp DESC
LIMIT {limit:UInt32}
"""

TRACE = """
SELECT Timestamp AS start, TraceId AS trace_id, SpanId AS span_id, ParentSpanId AS parent_span_id,
       SpanName AS name, SpanKind AS kind, ServiceName AS service, Duration / 1e6 AS duration_ms,
       StatusCode AS status, StatusMessage AS status_message, SpanAttributes AS attributes,
       ResourceAttributes AS resource
FROM {db}.otel_traces
WHERE TraceId = {trace_id:String}
ORDER BY Timestamp
LIMIT 10000
"""


def render(sql: str, database: str) -> str:
    return sql.replace("{db}", f"`{database}`")


def rows(result: Any) -> list[dict[str, Any]]:
    return [dict(zip(result.column_names, r)) for r in result.result_rows]

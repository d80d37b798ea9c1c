-- Model calls matching a search, newest or slowest first (order: a clause from a fixed list).
SELECT TraceId AS trace_id, SpanId AS span_id, toUnixTimestamp64Milli(Timestamp) AS start_ms,
       ModelName AS model, ModelVersion AS version, Operation AS operation, Duration / 1e6 AS duration_ms,
       StatusCode AS status, ErrorType AS error_type, HostName AS host, PredictionId AS prediction_id,
       InputRows AS rows
FROM {db}.ml_predictions
WHERE {where}
  AND Duration >= {min_ns:UInt64} AND ({max_ns:UInt64} = 0 OR Duration <= {max_ns:UInt64})
ORDER BY {order}
LIMIT {limit:UInt32}

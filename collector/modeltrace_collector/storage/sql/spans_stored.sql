-- which of these (trace id, span id) pairs otel_traces holds between two times
SELECT DISTINCT TraceId, SpanId
FROM {db}.otel_traces
WHERE Timestamp >= fromUnixTimestamp64Nano({first:Int64}) AND Timestamp <= fromUnixTimestamp64Nano({last:Int64})
  AND (TraceId, SpanId) IN {pairs:Array(Tuple(String, String))}

SELECT TraceId, toUnixTimestamp(min(Start)), toUnixTimestamp(max(End)) + 1
FROM {db}.otel_traces_trace_id_ts
WHERE TraceId IN {ids:Array(String)}
GROUP BY TraceId

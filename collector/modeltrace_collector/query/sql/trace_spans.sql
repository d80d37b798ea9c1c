-- the stored rows of some traces, capped per trace; time_filter narrows the scan to their range
SELECT {span_columns}
FROM {db}.otel_traces
WHERE TraceId IN {ids:Array(String)} AND {time_filter}
ORDER BY TraceId, Timestamp
LIMIT {cap:UInt32} BY TraceId

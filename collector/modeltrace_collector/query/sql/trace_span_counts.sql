SELECT TraceId, count()
FROM {db}.otel_traces
WHERE TraceId IN {ids:Array(String)} AND {time_filter} AND TraceId IN {full:Array(String)}
GROUP BY TraceId

Timestamp >= (SELECT min(Start) FROM {db}.otel_traces_trace_id_ts WHERE TraceId IN {ids:Array(String)})
AND Timestamp <= (SELECT max(End) + 1 FROM {db}.otel_traces_trace_id_ts WHERE TraceId IN {ids:Array(String)})

SELECT Timestamp AS start, TraceId AS trace_id, SpanId AS span_id, ParentSpanId AS parent_span_id,
       SpanName AS name, SpanKind AS kind, ServiceName AS service, Duration / 1e6 AS duration_ms,
       StatusCode AS status, StatusMessage AS status_message, SpanAttributes AS attributes,
       ResourceAttributes AS resource
FROM {db}.otel_traces
WHERE TraceId = {trace_id:String}
ORDER BY Timestamp
LIMIT 10000

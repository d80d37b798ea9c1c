-- The spans of one trace in start order (at most limit), with their events: the UI's trace view.
SELECT toUnixTimestamp64Nano(Timestamp) AS start_ns, SpanId AS span_id, ParentSpanId AS parent_span_id,
       SpanName AS name, SpanKind AS kind, ServiceName AS service, Duration AS duration_ns,
       StatusCode AS status, StatusMessage AS status_message, SpanAttributes AS attributes,
       ResourceAttributes AS resource, ScopeName AS scope,
       arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp) AS event_times,
       Events.Name AS event_names, Events.Attributes AS event_attributes, AttributeTypes AS types
FROM {db}.otel_traces
WHERE TraceId = {trace_id:String}
  AND Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND Timestamp <= fromUnixTimestamp64Milli({end:Int64})
ORDER BY Timestamp
LIMIT {limit:UInt32}

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.ml_hotspots_mv {on_cluster}
TO {db}.ml_hotspots
AS SELECT
    Timestamp,
    TraceId,
    SpanId,
    SpanAttributes['ml.model.name'] AS ModelName,
    SpanAttributes['ml.model.version'] AS ModelVersion,
    if(SpanAttributes['ml.operation.name'] = '', 'predict', SpanAttributes['ml.operation.name']) AS Operation,
    JSONExtractString(hotspot, 'function') AS Function,
    JSONExtractString(hotspot, 'file') AS File,
    toUInt32(JSONExtractUInt(hotspot, 'line')) AS Line,
    JSONExtractUInt(hotspot, 'calls') AS Calls,
    JSONExtractFloat(hotspot, 'self_ms') AS SelfMs,
    JSONExtractFloat(hotspot, 'cum_ms') AS CumMs
FROM {db}.otel_traces
ARRAY JOIN JSONExtractArrayRaw(SpanAttributes['ml.profile.hotspots']) AS hotspot
WHERE SpanAttributes['ml.model.name'] != '' AND JSONType(hotspot) = 'Object'

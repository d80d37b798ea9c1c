CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.ml_predictions_mv {on_cluster}
TO {db}.ml_predictions
AS SELECT
    Timestamp,
    TraceId,
    SpanId,
    ParentSpanId,
    ServiceName,
    SpanAttributes['ml.model.name'] AS ModelName,
    SpanAttributes['ml.model.version'] AS ModelVersion,
    SpanAttributes['ml.model.framework'] AS Framework,
    if(SpanAttributes['ml.operation.name'] = '', 'predict', SpanAttributes['ml.operation.name']) AS Operation,
    Duration,
    toUInt32OrZero(SpanAttributes['ml.input.rows']) AS InputRows,
    toUInt32OrZero(SpanAttributes['ml.input.columns']) AS InputColumns,
    toUInt32OrZero(SpanAttributes['ml.output.rows']) AS OutputRows,
    StatusCode,
    SpanAttributes['error.type'] AS ErrorType,
    SpanAttributes['ml.prediction.id'] AS PredictionId,
    ResourceAttributes['host.name'] AS HostName,
    SpanAttributes['ml.profile.sampled'] = 'true' AS ProfileSampled,
    toUInt8(
        (SpanAttributes['ml.input.sample'] != '' AND NOT isValidJSON(SpanAttributes['ml.input.sample']))
        + (SpanAttributes['ml.output.sample'] != '' AND NOT isValidJSON(SpanAttributes['ml.output.sample']))
        + (SpanAttributes['ml.input.stats'] != '' AND NOT isValidJSON(SpanAttributes['ml.input.stats']))
        + (SpanAttributes['ml.profile.hotspots'] != '' AND NOT isValidJSON(SpanAttributes['ml.profile.hotspots']))
    ) AS MalformedFields,
    ResourceAttributes
FROM {db}.otel_traces
WHERE SpanAttributes['ml.model.name'] != ''
  AND SpanAttributes['ml.operation.name'] != 'feedback'
  AND NOT mapContains(SpanAttributes, 'ml.actual')

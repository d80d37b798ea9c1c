CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.ml_actuals_mv {on_cluster}
TO {db}.ml_actuals
AS WITH
    SpanAttributes['ml.actual'] AS raw,
    if(JSONType(raw) = 'Array', raw, concat('[', raw, ']')) AS actual,
    position(actual, '"') > 0 AS categorical
SELECT
    Timestamp,
    SpanAttributes['ml.prediction.id'] AS PredictionId,
    SpanAttributes['ml.model.name'] AS ModelName,
    SpanAttributes['ml.model.version'] AS ModelVersion,
    if(categorical, [], arrayMap(x -> ifNull(x, nan), JSONExtract(actual, 'Array(Nullable(Float64))'))) AS NumValue,
    if(categorical, JSONExtract(actual, 'Array(Nullable(String))'), []) AS CatValue,
    TraceId,
    SpanId
FROM {db}.otel_traces
WHERE mapContains(SpanAttributes, 'ml.actual') AND isValidJSON(raw)

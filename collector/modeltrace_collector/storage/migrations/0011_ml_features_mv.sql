CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.ml_features_mv {on_cluster}
TO {database}.ml_features
AS WITH
    JSONExtractKeysAndValuesRaw(sample.2) AS pairs,
    arrayMap(p -> arrayExists(i -> JSONType(p.2, i) = 'String', range(1, JSONLength(p.2) + 1)), pairs) AS categorical,
    arrayFilter((p, c) -> NOT c, pairs, categorical) AS numbers,
    arrayFilter((p, c) -> c, pairs, categorical) AS categories
SELECT
    Timestamp,
    TraceId,
    SpanId,
    SpanAttributes['ml.model.name'] AS ModelName,
    SpanAttributes['ml.model.version'] AS ModelVersion,
    if(SpanAttributes['ml.operation.name'] = '', 'predict', SpanAttributes['ml.operation.name']) AS Operation,
    sample.1 AS Side,
    arrayFlatten(arrayMap(p -> arrayResize([p.1], JSONLength(p.2), p.1), numbers)) AS NumFeature,
    arrayFlatten(arrayMap(p -> arrayMap(i -> toUInt16(i), range(JSONLength(p.2))), numbers)) AS NumRow,
    arrayFlatten(arrayMap(p -> arrayMap(x -> ifNull(x, nan), JSONExtract(p.2, 'Array(Nullable(Float64))')), numbers)) AS NumValue,
    arrayFlatten(arrayMap(p -> arrayResize([p.1], JSONLength(p.2), p.1), categories)) AS CatFeature,
    arrayFlatten(arrayMap(p -> arrayMap(i -> toUInt16(i), range(JSONLength(p.2))), categories)) AS CatRow,
    arrayFlatten(arrayMap(
        p -> arrayMap(
            i -> if(JSONType(p.2, i) = 'Null', NULL,
                    if(JSONType(p.2, i) = 'String', JSONExtractString(p.2, i), JSONExtractRaw(p.2, i))),
            range(1, JSONLength(p.2) + 1)),
        categories)) AS CatValue
FROM {database}.otel_traces
ARRAY JOIN [('input', SpanAttributes['ml.input.sample']), ('output', SpanAttributes['ml.output.sample'])] AS sample
WHERE SpanAttributes['ml.model.name'] != '' AND sample.2 != '' AND isValidJSON(sample.2)

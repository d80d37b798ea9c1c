CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.ml_features_mv {on_cluster}
TO {db}.ml_features
AS WITH
    -- Fast path: an all-numeric sample (the common case) parses in one pass as a map. It is
    -- all-numeric when its only quotes are those of its keys, and anything else takes the general
    -- path below, so a categorical, nested or odd sample is still read correctly.
    JSONExtract(sample.2, 'Map(String, Array(Nullable(Float64)))') AS numeric_map,
    countSubstrings(sample.2, '"') = 2 * length(numeric_map) AS numeric_only,
    if(numeric_only, [], JSONExtractKeysAndValuesRaw(sample.2)) AS pairs,
    -- a feature whose values hold a JSON string is categorical: numbers and nulls never contain a quote
    if(
        numeric_only,
        arrayZip(mapKeys(numeric_map), mapValues(numeric_map)),
        arrayMap(p -> (p.1, JSONExtract(p.2, 'Array(Nullable(Float64))')), arrayFilter(p -> position(p.2, '"') = 0, pairs))
    ) AS all_nums,
    -- NumRow and CatRow are UInt16: a sample keeps its first 65,536 rows per feature (the SDK sends 32)
    arrayMap(x -> (x.1, arraySlice(x.2, 1, 65536)), all_nums) AS nums,
    arrayMap(
        p -> (p.1, arraySlice(JSONExtract(p.2, 'Array(Nullable(String))'), 1, 65536)),
        arrayFilter(p -> position(p.2, '"') > 0, pairs)
    ) AS cats
SELECT
    Timestamp,
    TraceId,
    SpanId,
    SpanAttributes['ml.model.name'] AS ModelName,
    SpanAttributes['ml.model.version'] AS ModelVersion,
    if(SpanAttributes['ml.operation.name'] = '', 'predict', SpanAttributes['ml.operation.name']) AS Operation,
    sample.1 AS Side,
    arrayFlatten(arrayMap(x -> arrayResize([x.1], length(x.2), x.1), nums)) AS NumFeature,
    arrayFlatten(arrayMap(x -> arrayMap(i -> toUInt16(i - 1), arrayEnumerate(x.2)), nums)) AS NumRow,
    arrayFlatten(arrayMap(x -> arrayMap(v -> ifNull(v, nan), x.2), nums)) AS NumValue,
    arrayFlatten(arrayMap(x -> arrayResize([x.1], length(x.2), x.1), cats)) AS CatFeature,
    arrayFlatten(arrayMap(x -> arrayMap(i -> toUInt16(i - 1), arrayEnumerate(x.2)), cats)) AS CatRow,
    arrayFlatten(arrayMap(x -> x.2, cats)) AS CatValue
FROM {db}.otel_traces
ARRAY JOIN [('input', SpanAttributes['ml.input.sample']), ('output', SpanAttributes['ml.output.sample'])] AS sample
WHERE SpanAttributes['ml.model.name'] != '' AND sample.2 != '' AND isValidJSON(sample.2)

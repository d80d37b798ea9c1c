-- Per-minute calls, errors and latency quantiles (ns) per model, version and operation.
SELECT
    ModelName AS model,
    ModelVersion AS version,
    Operation AS operation,
    toUnixTimestamp(Minute) * 1000 AS minute_ms,
    sum(Calls) AS calls,
    sum(Errors) AS errors,
    quantilesTDigestMerge(0.5, 0.95, 0.99)(Durations) AS q
FROM {db}.ml_latency_minutes
WHERE Minute >= toDateTime(intDiv({start:Int64}, 1000), 'UTC') AND Minute < toDateTime(intDiv({end:Int64}, 1000), 'UTC')
  AND ({model:String} = '' OR ModelName = {model:String})
GROUP BY model, version, operation, minute_ms
ORDER BY model, version, operation, minute_ms

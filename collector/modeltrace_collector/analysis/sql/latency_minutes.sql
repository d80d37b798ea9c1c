-- Per-minute calls, errors and latency quantiles (ns) per model, version and operation.
-- {version} is ModelVersion, or '' to pool the versions; with pooled = 1 the version named by
-- exclude is left out (the baseline of a version too new to have its own).
SELECT
    ModelName AS model,
    {version} AS version,
    Operation AS operation,
    toUnixTimestamp(Minute) * 1000 AS minute_ms,
    sum(Calls) AS calls,
    sum(Errors) AS errors,
    -- cProfile slows the calls it profiles: quantiles come from the other calls when they are
    -- at least half of the minute (and five calls), else from all of them
    if(sum(UnprofiledCalls) >= greatest(5, calls / 2),
       quantilesTDigestMerge(0.5, 0.95, 0.99)(UnprofiledDurations),
       quantilesTDigestMerge(0.5, 0.95, 0.99)(Durations)) AS q
FROM {db}.ml_latency_minutes
WHERE Minute >= toDateTime(intDiv({start:Int64}, 1000), 'UTC') AND Minute < toDateTime(intDiv({end:Int64}, 1000), 'UTC')
  AND ({model:String} = '' OR ModelName = {model:String})
  AND ({operation:String} = '' OR Operation = {operation:String})
  AND ({pooled:UInt8} = 0 OR ModelVersion != {exclude:String})
GROUP BY model, version, operation, minute_ms
ORDER BY model, version, operation, minute_ms

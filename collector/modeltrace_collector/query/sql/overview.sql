-- Every model and version with calls in [start, end): calls, errors and latency quantiles (ms)
-- from the per-minute rollup. Quantiles come from the calls cProfile did not slow when they are
-- at least half of the calls (as the latency analysis reads them).
SELECT ModelName AS model, ModelVersion AS version,
       sum(Calls) AS calls, sum(Errors) AS errors,
       if(sum(UnprofiledCalls) >= greatest(5, calls / 2),
          quantilesTDigestMerge(0.5, 0.95, 0.99)(UnprofiledDurations),
          quantilesTDigestMerge(0.5, 0.95, 0.99)(Durations)) AS q,
       toUnixTimestamp(min(Minute)) * 1000 AS first_ms,
       toUnixTimestamp(max(Minute)) * 1000 + 60000 AS last_ms,
       groupUniqArray(Operation) AS operations
FROM {db}.ml_latency_minutes
WHERE Minute >= toDateTime(intDiv({start:Int64}, 1000), 'UTC') AND Minute < toDateTime(intDiv({end:Int64}, 1000), 'UTC')
  AND ({model:String} = '' OR ModelName = {model:String})
GROUP BY model, version
ORDER BY model, version

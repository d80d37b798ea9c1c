-- Every model and version with calls in [start, end), in one pass over the per-minute rollup:
-- totals (bucket = -1) and the sparkline's buckets of step seconds (bucket >= 0). Quantiles
-- are of the calls cProfile did not slow (as the latency analysis reads them); a version with
-- too few of those is asked again from every call (overview_all).
SELECT ModelName AS model, ModelVersion AS version,
       if(grouping(bucket) = 1, -1, bucket) AS bucket_no,
       sum(Calls) AS calls, sum(Errors) AS errors, sum(UnprofiledCalls) AS unprofiled,
       quantilesTDigestMerge(0.5, 0.95, 0.99)(UnprofiledDurations) AS q,
       toUnixTimestamp(min(Minute)) * 1000 AS first_ms,
       toUnixTimestamp(max(Minute)) * 1000 + 60000 AS last_ms
FROM {db}.ml_latency_minutes
WHERE Minute >= toDateTime(intDiv({start:Int64}, 1000), 'UTC') AND Minute < toDateTime(intDiv({end:Int64}, 1000), 'UTC')
  AND ({model:String} = '' OR ModelName = {model:String})
GROUP BY GROUPING SETS ((model, version), (model, version, intDiv(toUnixTimestamp(Minute) - intDiv({start:Int64}, 1000), {step:UInt32}) AS bucket))
ORDER BY model, version, bucket_no

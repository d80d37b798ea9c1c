-- p95 latency (ms) and calls per model, version and bucket of {step} seconds: the sparklines
-- of the models page.
SELECT ModelName AS model, ModelVersion AS version,
       intDiv(toUnixTimestamp(Minute) - intDiv({start:Int64}, 1000), {step:UInt32}) AS bucket,
       sum(Calls) AS calls,
       quantilesTDigestMerge(0.95)(Durations)[1] / 1e6 AS p95_ms
FROM {db}.ml_latency_minutes
WHERE Minute >= toDateTime(intDiv({start:Int64}, 1000), 'UTC') AND Minute < toDateTime(intDiv({end:Int64}, 1000), 'UTC')
  AND ({model:String} = '' OR ModelName = {model:String})
GROUP BY model, version, bucket
ORDER BY model, version, bucket

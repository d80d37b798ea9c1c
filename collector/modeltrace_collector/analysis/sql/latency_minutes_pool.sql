-- A model's traffic per minute for one operation, all versions but one pooled: the baseline of a
-- version too new to have its own.
SELECT
    toUnixTimestamp(Minute) * 1000 AS minute_ms,
    sum(Calls) AS calls,
    sum(Errors) AS errors,
    quantilesTDigestMerge(0.5, 0.95, 0.99)(Durations) AS q
FROM {db}.ml_latency_minutes
WHERE Minute >= toDateTime(intDiv({start:Int64}, 1000), 'UTC') AND Minute < toDateTime(intDiv({end:Int64}, 1000), 'UTC')
  AND ModelName = {model:String} AND Operation = {operation:String} AND ModelVersion != {exclude:String}
GROUP BY minute_ms
ORDER BY minute_ms

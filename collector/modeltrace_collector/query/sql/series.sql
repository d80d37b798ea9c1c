-- Calls, errors and latency quantiles (ms) per version and time step of one model (all its
-- operations, or one).
SELECT ModelVersion AS version,
       toUnixTimestamp(toStartOfInterval(Minute, toIntervalSecond({step:UInt32}))) * 1000 AS t,
       sum(Calls) AS calls, sum(Errors) AS errors,
       if(sum(UnprofiledCalls) >= greatest(5, calls / 2),
          quantilesTDigestMerge(0.5, 0.95, 0.99)(UnprofiledDurations),
          quantilesTDigestMerge(0.5, 0.95, 0.99)(Durations)) AS q
FROM {db}.ml_latency_minutes
WHERE Minute >= toDateTime(intDiv({start:Int64}, 1000), 'UTC') AND Minute < toDateTime(intDiv({end:Int64}, 1000), 'UTC')
  AND ({model:String} = '' OR ModelName = {model:String})
  AND ({operation:String} = '' OR Operation = {operation:String})
GROUP BY version, t
ORDER BY version, t

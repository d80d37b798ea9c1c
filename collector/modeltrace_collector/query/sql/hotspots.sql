-- Top functions by self time per model version in [start, end): totals and per profiled call.
SELECT ModelName AS model, ModelVersion AS version, Function AS function, File AS file, Line AS line,
       count() AS profiled_calls, sum(Calls) AS calls,
       sum(SelfMs) AS self_ms_total, avg(SelfMs) AS self_ms_avg, avg(CumMs) AS cum_ms_avg
FROM {db}.ml_hotspots
WHERE Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end:Int64})
  AND ({model:String} = '' OR ModelName = {model:String})
  AND ({version:String} = '' OR ModelVersion = {version:String})
GROUP BY model, version, function, file, line
ORDER BY model, version, self_ms_total DESC
LIMIT {limit:UInt32} BY model, version

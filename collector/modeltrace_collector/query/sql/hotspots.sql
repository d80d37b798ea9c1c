SELECT ModelName AS model, ModelVersion AS version, Function AS function, File AS file, Line AS line,
       count() AS profiled_calls, sum(Calls) AS calls,
       sum(SelfMs) AS self_ms_total, avg(SelfMs) AS self_ms_avg, avg(CumMs) AS cum_ms_avg
FROM {db}.ml_hotspots
WHERE Timestamp >= now64(9) - toIntervalSecond({window:UInt32})
  AND ({model:String} = '' OR ModelName = {model:String})
GROUP BY model, version, function, file, line
ORDER BY model, version, self_ms_total DESC
LIMIT {limit:UInt32} BY model, version

-- Self time per profiled call of every function in two versions of one model (a before,
-- b after), in [start, end). The profiled calls of each version divide its total.
WITH profiled AS (
    SELECT uniqExactIf(SpanId, ModelVersion = {a:String}) AS calls_a,
           uniqExactIf(SpanId, ModelVersion = {b:String}) AS calls_b
    FROM {db}.ml_hotspots
    WHERE ModelName = {model:String} AND ModelVersion IN ({a:String}, {b:String})
      AND Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end:Int64})
)
SELECT Function AS function, File AS file, Line AS line,
       any(profiled.calls_a) AS profiled_a, any(profiled.calls_b) AS profiled_b,
       sumIf(SelfMs, ModelVersion = {a:String}) / greatest(profiled_a, 1) AS self_ms_a,
       sumIf(SelfMs, ModelVersion = {b:String}) / greatest(profiled_b, 1) AS self_ms_b,
       self_ms_b - self_ms_a AS delta_ms
FROM {db}.ml_hotspots, profiled
WHERE ModelName = {model:String} AND ModelVersion IN ({a:String}, {b:String})
  AND Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end:Int64})
GROUP BY function, file, line
ORDER BY abs(delta_ms) DESC
LIMIT {limit:UInt32}

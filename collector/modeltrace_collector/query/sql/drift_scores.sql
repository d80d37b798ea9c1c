-- One feature's stored drift scores over time (every analysis pass).
SELECT ModelVersion AS version, toUnixTimestamp64Milli(Timestamp) AS t, Test AS test, Score AS score,
       Threshold AS threshold, Drifted AS drifted, PSI AS psi
FROM {db}.ml_drift_scores
WHERE ModelName = {model:String} AND Feature = {feature:String} AND Side = {side:String}
  AND Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end:Int64})
ORDER BY t
LIMIT 20000

-- The latest stored drift pass of each model version in [start, end): features tested and drifted.
SELECT model, version, count() AS features, countIf(drifted) AS drifted, toUnixTimestamp64Milli(max(at)) AS at_ms
FROM (
    SELECT ModelName AS model, ModelVersion AS version, Side, Feature,
           argMax(Drifted, Timestamp) AS drifted, max(Timestamp) AS at
    FROM {db}.ml_drift_scores
    WHERE Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end:Int64})
      AND ({model:String} = '' OR ModelName = {model:String})
    GROUP BY model, version, Side, Feature
)
GROUP BY model, version

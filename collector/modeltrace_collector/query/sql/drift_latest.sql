-- The latest stored drift result of every feature of one model in [start, end).
SELECT ModelVersion AS version, Side AS side, Feature AS feature,
       toUnixTimestamp64Milli(max(Timestamp)) AS at_ms,
       argMax(FeatureType, Timestamp) AS type, argMax(Test, Timestamp) AS test,
       argMax(Score, Timestamp) AS score, argMax(Threshold, Timestamp) AS threshold,
       argMax(Drifted, Timestamp) AS drifted, argMax(PValue, Timestamp) AS p_value,
       argMax(PSI, Timestamp) AS psi, argMax(JS, Timestamp) AS js,
       argMax(NullRate, Timestamp) AS null_rate, argMax(OutOfRangeRate, Timestamp) AS out_of_range_rate,
       argMax(NReference, Timestamp) AS n_reference, argMax(NCurrent, Timestamp) AS n_current
FROM {db}.ml_drift_scores
WHERE ModelName = {model:String}
  AND Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end:Int64})
GROUP BY version, side, feature
ORDER BY drifted DESC, version, side, feature

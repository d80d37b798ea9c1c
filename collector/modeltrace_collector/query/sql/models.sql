SELECT ModelName AS model, ModelVersion AS version, count() AS calls,
       min(Timestamp) AS first_seen, max(Timestamp) AS last_seen
FROM {db}.ml_predictions
WHERE Timestamp >= now64(9) - toIntervalSecond({window:UInt32})
GROUP BY model, version
ORDER BY model, last_seen DESC

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.ml_latency_minutes_mv {on_cluster}
TO {db}.ml_latency_minutes
AS SELECT
    toStartOfMinute(toDateTime(Timestamp, 'UTC')) AS Minute,
    ModelName,
    ModelVersion,
    Operation,
    toUInt64(count()) AS Calls,
    toUInt64(countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR'))) AS Errors,
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration) AS Durations
FROM {db}.ml_predictions
GROUP BY Minute, ModelName, ModelVersion, Operation

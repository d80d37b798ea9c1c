SELECT ModelName AS model, ModelVersion AS version, Operation AS operation, count() AS calls,
       countIf(StatusCode = 'Error') AS errors,
       quantile(0.5)(Duration) / 1e6 AS p50_ms,
       quantile(0.95)(Duration) / 1e6 AS p95_ms,
       quantile(0.99)(Duration) / 1e6 AS p99_ms,
       max(Duration) / 1e6 AS max_ms
FROM {db}.ml_predictions
WHERE Timestamp >= now64(9) - toIntervalSecond({window:UInt32})
  AND ({model:String} = '' OR ModelName = {model:String})
GROUP BY model, version, operation
ORDER BY model, version, operation

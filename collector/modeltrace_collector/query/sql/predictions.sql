SELECT Timestamp AS time, ModelName AS model, ModelVersion AS version, Operation AS operation,
       Duration / 1e6 AS duration_ms, InputRows AS rows, StatusCode AS status, ErrorType AS error_type,
       PredictionId AS prediction_id, TraceId AS trace_id, HostName AS host
FROM {db}.ml_predictions
WHERE ({model:String} = '' OR ModelName = {model:String})
ORDER BY Timestamp DESC
LIMIT {limit:UInt32}

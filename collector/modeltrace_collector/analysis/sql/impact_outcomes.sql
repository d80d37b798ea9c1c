-- The window's calls with what happened to them: their duration and whether they failed (the
-- outcomes a drifted feature is associated with), to join on SpanId.
SELECT SpanId, Duration AS duration, StatusCode IN ('Error', 'STATUS_CODE_ERROR') AS failed
FROM {db}.ml_predictions
WHERE ModelName = {model:String}
  AND Timestamp >= fromUnixTimestamp64Milli({start_1:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end_1:Int64})

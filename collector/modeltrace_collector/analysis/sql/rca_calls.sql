-- The calls of one model operation in the baseline and the anomaly window, each marked as a
-- target (slow, or failed for an error anomaly) or not. Shared by the RCA queries below as
-- a sub-query.
SELECT
    TraceId,
    SpanId,
    Timestamp,
    Duration,
    InputRows,
    ProfileSampled,
    ModelVersion,
    HostName,
    ResourceAttributes,
    Timestamp >= fromUnixTimestamp64Milli({win_start:Int64}) AS in_window,
    in_window AND if({errors:UInt8} = 1, StatusCode IN ('Error', 'STATUS_CODE_ERROR'), Duration > {slow_ns:UInt64}) AS target
FROM {db}.ml_predictions
WHERE ModelName = {model:String} AND Operation = {operation:String}
  AND ({version:String} = '' OR NOT in_window OR ModelVersion = {version:String})
  AND Timestamp >= fromUnixTimestamp64Milli({base_start:Int64}) AND Timestamp < fromUnixTimestamp64Milli({win_end:Int64})

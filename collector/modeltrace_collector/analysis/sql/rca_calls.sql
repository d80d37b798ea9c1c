-- The calls of one model operation (any operation when it is '') in the baseline and the
-- window, each marked as a target or not. Shared by the RCA queries below as a sub-query.
-- {target} is the condition: slow (Duration over the baseline's p95), failed, or for a
-- performance drop a wrong prediction; then {labelled} keeps only the calls with ground truth,
-- joined as w (performance_calls.sql: wrong, abs_error).
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
    in_window AND {target} AS target
FROM {db}.ml_predictions
{labelled}
WHERE ModelName = {model:String} AND ({operation:String} = '' OR Operation = {operation:String})
  AND ({version:String} = '' OR NOT in_window OR ModelVersion = {version:String})
  AND Timestamp >= fromUnixTimestamp64Milli({base_start:Int64}) AND Timestamp < fromUnixTimestamp64Milli({win_end:Int64})

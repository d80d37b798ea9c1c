-- Numeric values of one model's features in a time window, one line per value with its call
-- and its row within the call's sample (tag 0: reference, 1: current). A call is kept when a
-- hash of it falls below keep_{tag} of every million: a deterministic sample of whole calls.
-- A value that is not finite counts as missing (NaN).
SELECT
    toUInt8({tag}) AS tag,
    cityHash64(TraceId, SpanId) AS call,
    toUInt64(toUnixTimestamp64Milli(Timestamp)) AS ord,
    toUInt32(row) AS row,
    feature,
    if(isFinite(value), value, nan) AS value
FROM {db}.ml_features
ARRAY JOIN NumFeature AS feature, NumRow AS row, NumValue AS value
WHERE ModelName = {model:String}
  AND ({version_{tag}:String} = '' OR ModelVersion = {version_{tag}:String})
  AND Side = {side:String}
  AND Timestamp >= fromUnixTimestamp64Milli({start_{tag}:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end_{tag}:Int64})
  AND cityHash64(TraceId, SpanId) % 1000000 < {keep_{tag}:UInt32}

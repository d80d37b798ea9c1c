-- Sampled values of one model's features in a time window (tag 0: reference, 1: current), with
-- the call each came from (the rows of one call's sample are not independent observations).
-- {sides}: one side, or both with each feature named "side:name" ({feature}), so that one query
-- serves inputs and outputs.
SELECT {feature} AS feature, value, toUInt8({tag}) AS tag, cityHash64(SpanId) AS call, SpanId AS span
FROM {db}.ml_features
ARRAY JOIN {kind}Feature AS name, {kind}Value AS value
WHERE ModelName = {model:String}
  AND ({version_{tag}:String} = '' OR ModelVersion = {version_{tag}:String})
  AND {sides}
  AND Timestamp >= fromUnixTimestamp64Milli({start_{tag}:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end_{tag}:Int64})

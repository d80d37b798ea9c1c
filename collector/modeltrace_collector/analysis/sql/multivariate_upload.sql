-- Numeric values of an uploaded reference (always tag 0) as rows: an upload stores each feature
-- as an array, and the i-th values of the features make the i-th row. Each row is its own
-- "call"; ord (the order chunks follow) is a hash of the row, as an upload's order may be
-- sorted by anything. Sampled like the window's calls (keep_0 of every million).
SELECT
    toUInt8(0) AS tag,
    cityHash64(i) AS call,
    cityHash64(i) AS ord,
    toUInt32(0) AS row,
    Feature AS feature,
    if(isFinite(value), value, nan) AS value
FROM {db}.ml_references FINAL
ARRAY JOIN NumValue AS value, arrayEnumerate(NumValue) AS i
WHERE ModelName = {model:String} AND ReferenceId = {reference_id:String} AND Side = {side:String}
  AND cityHash64(i) % 1000000 < {keep_0:UInt32}

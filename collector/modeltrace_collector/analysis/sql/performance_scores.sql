-- Scores of all calls (with or without ground truth) per version and bucket, as decile counts plus
-- the sums an estimate and its variance need.
SELECT
    ModelVersion AS version,
    intDiv(toUnixTimestamp64Milli(Timestamp), {bucket_ms:Int64}) * {bucket_ms:Int64} AS bucket_ms,
    least(toUInt8(floor(s * 10)), 9) AS bin,
    count() AS n,
    sum(s) AS score_sum,
    sum(s * (1 - s)) AS variance_sum
FROM {db}.ml_features
ARRAY JOIN arrayFilter((v, f) -> f = {score_field:String}, NumValue, NumFeature) AS s
WHERE ModelName = {model:String} AND Side = 'output' AND NOT isNaN(s)
  AND Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end:Int64})
GROUP BY version, bucket_ms, bin
ORDER BY version, bucket_ms, bin

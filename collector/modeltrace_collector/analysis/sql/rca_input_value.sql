-- Each call's most frequent value of one categorical input feature ({side}: a or b), to join
-- on a call's SpanId.
LEFT JOIN (
    SELECT SpanId AS span_{side}, topK(1)(ifNull(value, '(null)'))[1] AS v
    FROM {db}.ml_features
    ARRAY JOIN CatFeature AS feature, CatValue AS value
    WHERE ModelName = {model:String} AND Side = 'input' AND feature = {feature_{side}:String}
      AND Timestamp >= fromUnixTimestamp64Milli({base_start:Int64}) AND Timestamp < fromUnixTimestamp64Milli({win_end:Int64})
    GROUP BY SpanId
) AS i{side} ON i{side}.span_{side} = c.SpanId

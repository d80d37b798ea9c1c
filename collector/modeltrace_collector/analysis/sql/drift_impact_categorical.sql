-- How each categorical input feature goes with what matters in the window: per value (a call's
-- most common one), the calls, the mean and variance of the log duration, the failed calls and
-- ({wrong}: with ground truth) the wrong predictions, for correlation ratios in Python.
SELECT feature, category, count() AS calls, avg(log(greatest(duration, 1))) AS log_mean,
       varPop(log(greatest(duration, 1))) AS log_var, sum(failed) AS failed, {wrong} AS wrong, {labelled_calls} AS labelled
FROM (
    SELECT c.feature AS feature, c.category AS category, p.duration AS duration, toUInt64(p.failed) AS failed{wrong_column}
    FROM (
        SELECT SpanId AS span, feature, topK(1)(ifNull(value, '(null)'))[1] AS category
        FROM {db}.ml_features
        ARRAY JOIN CatFeature AS feature, CatValue AS value
        WHERE ModelName = {model:String} AND ({version_1:String} = '' OR ModelVersion = {version_1:String})
          AND Side = 'input' AND has({features:Array(String)}, feature)
          AND Timestamp >= fromUnixTimestamp64Milli({start_1:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end_1:Int64})
        GROUP BY span, feature
    ) AS c
    INNER JOIN ({outcomes}) AS p ON p.SpanId = c.span
    {labelled}
)
GROUP BY feature, category

-- How each numeric input feature goes with what matters in the window: Spearman's rank
-- correlation of a call's value (the mean of its sampled rows) with its duration, with its
-- failure and ({wrong}: with ground truth) with a wrong prediction, as Pearson's correlation of
-- mid-ranks (ties share their mean rank; a 0/1 outcome's mid-ranks are a linear function of it,
-- so it is used as it is). corr gives NaN for a constant sample, where ClickHouse 24.8's
-- rankCorr throws, and rankCorr ranks ties in order.
SELECT feature, count() AS calls,
       corr(rv, rd) AS latency,
       corr(rv, toFloat64(failed)) AS errors,
       {wrong} AS prediction_errors
FROM (
    SELECT c.feature AS feature, c.v AS v,
           rank() OVER (PARTITION BY c.feature ORDER BY c.v) + (count() OVER (PARTITION BY c.feature, c.v) - 1) / 2 AS rv,
           rank() OVER (PARTITION BY c.feature ORDER BY p.duration)
               + (count() OVER (PARTITION BY c.feature, p.duration) - 1) / 2 AS rd,
           p.duration AS duration, p.failed AS failed{wrong_column}
    FROM (
        SELECT SpanId AS span, feature, avg(value) AS v
        FROM {db}.ml_features
        ARRAY JOIN NumFeature AS feature, NumValue AS value
        WHERE ModelName = {model:String} AND ({version_1:String} = '' OR ModelVersion = {version_1:String})
          AND Side = 'input' AND NOT isNaN(value) AND has({features:Array(String)}, feature)
          AND Timestamp >= fromUnixTimestamp64Milli({start_1:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end_1:Int64})
        GROUP BY span, feature
    ) AS c
    INNER JOIN ({outcomes}) AS p ON p.SpanId = c.span
    {labelled}
)
GROUP BY feature

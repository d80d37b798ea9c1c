-- How each numeric input feature goes with what matters in the window: Spearman's rank
-- correlation of a call's value (the mean of its sampled rows) with its duration, with its
-- failure and ({wrong}: with ground truth) with a wrong prediction. For a 0/1 outcome that is
-- Pearson's correlation of the value's rank with the outcome itself (its mid-ranks are a linear
-- function of it), which ClickHouse's rankCorr, ranking ties in order, would not give.
SELECT feature, count() AS calls,
       rankCorr(v, toFloat64(duration)) AS latency,
       corr(rv, toFloat64(failed)) AS errors,
       {wrong} AS prediction_errors
FROM (
    SELECT c.feature AS feature, c.v AS v, rank() OVER (PARTITION BY c.feature ORDER BY c.v) AS rv,
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

-- Labelled calls per input feature and segment, before the window (tag 0) and in it (tag 1),
-- and how many of them were predicted badly ({bad} over performance_calls' wrong and
-- abs_error). A number's segment is the bin of the call's mean value among the reference's
-- percentiles 1, 5, 10, 20, ..., 90, 95 and 99 (the tails, where a shift shows, get their own); a
-- category's is the call's most common value.
WITH per_call AS (
    SELECT f.SpanId AS span, feature, avg(value) AS v, '' AS category,
           toUInt8(any(f.Timestamp) >= fromUnixTimestamp64Milli({win_start:Int64})) AS tag
    FROM {db}.ml_features AS f
    ARRAY JOIN f.NumFeature AS feature, f.NumValue AS value
    WHERE f.ModelName = {model:String} AND f.Side = 'input' AND NOT isNaN(value)
      AND f.Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND f.Timestamp < fromUnixTimestamp64Milli({end:Int64})
    GROUP BY span, feature
    UNION ALL
    SELECT f.SpanId AS span, feature, nan AS v, topK(1)(ifNull(value, '(null)'))[1] AS category,
           toUInt8(any(f.Timestamp) >= fromUnixTimestamp64Milli({win_start:Int64})) AS tag
    FROM {db}.ml_features AS f
    ARRAY JOIN f.CatFeature AS feature, f.CatValue AS value
    WHERE f.ModelName = {model:String} AND f.Side = 'input'
      AND f.Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND f.Timestamp < fromUnixTimestamp64Milli({end:Int64})
    GROUP BY span, feature
)
SELECT feature, segment, tag, count() AS n, countIf(bad) AS bad
FROM (
    SELECT c.feature AS feature, c.tag AS tag,
           if(isNaN(c.v), c.category, toString(arraySum(x -> x < c.v, b.edges))) AS segment,
           {bad} AS bad
    FROM per_call AS c
    LEFT JOIN (
        SELECT feature, quantiles(0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)(v) AS edges
        FROM per_call WHERE tag = 0 AND NOT isNaN(v) GROUP BY feature
    ) AS b ON b.feature = c.feature
    INNER JOIN ({labelled}) AS w ON w.span = c.span
)
GROUP BY feature, segment, tag
ORDER BY feature, segment, tag

-- Categorical input features of target calls against normal calls: for each feature, each
-- call's most frequent value in its sample (a batch shares its region or channel), then how many
-- target, normal and baseline calls hold each value. Values held by too few target calls to be
-- a cause are left out (min_target).
WITH per_call AS (
    SELECT f.SpanId AS span, feature, topK(1)(ifNull(value, '(null)'))[1] AS v,
           any(p.target) AS target, any(p.in_window) AS in_window
    FROM {db}.ml_features AS f
    ARRAY JOIN f.CatFeature AS feature, f.CatValue AS value
    INNER JOIN (SELECT SpanId, target, in_window FROM ({calls})) AS p ON f.SpanId = p.SpanId
    WHERE f.ModelName = {model:String} AND f.Side = 'input'
      AND f.Timestamp >= fromUnixTimestamp64Milli({base_start:Int64}) AND f.Timestamp < fromUnixTimestamp64Milli({win_end:Int64})
    GROUP BY span, feature
),
totals AS (
    SELECT feature, countIf(target) AS target_calls, countIf(NOT target) AS normal_calls,
           countIf(NOT in_window) AS baseline_calls
    FROM per_call
    GROUP BY feature
)
SELECT feature, v AS value, any(totals.target_calls) AS target_calls, any(totals.normal_calls) AS normal_calls,
       any(totals.baseline_calls) AS baseline_calls,
       countIf(target) AS target_with, countIf(NOT target) AS normal_with, countIf(NOT in_window) AS baseline_with
FROM per_call
INNER JOIN totals USING feature
GROUP BY feature, value
HAVING target_with >= {min_target:UInt32}
ORDER BY feature, target_with DESC
LIMIT 20 BY feature

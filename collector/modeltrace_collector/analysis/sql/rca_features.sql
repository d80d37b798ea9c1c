-- Input feature values (mean over a call's sampled rows) of target calls against normal calls:
-- how often each feature sits above the baseline's 95th or below its 5th percentile.
WITH per_call AS (
    SELECT f.SpanId AS span, feature, avg(value) AS v, any(p.target) AS target, any(p.in_window) AS in_window
    FROM {db}.ml_features AS f
    ARRAY JOIN f.NumFeature AS feature, f.NumValue AS value
    INNER JOIN (SELECT SpanId, target, in_window FROM ({calls})) AS p ON f.SpanId = p.SpanId
    WHERE f.ModelName = {model:String} AND f.Side = 'input' AND NOT isNaN(value)
      AND f.Timestamp >= fromUnixTimestamp64Milli({base_start:Int64}) AND f.Timestamp < fromUnixTimestamp64Milli({win_end:Int64})
    GROUP BY span, feature
)
SELECT
    feature,
    any(bounds) AS limits,
    countIf(target) AS target_calls,
    countIf(NOT target) AS normal_calls,
    countIf(NOT in_window) AS baseline_calls,
    countIf(target AND v > bounds[2]) AS target_high,
    countIf(NOT target AND v > bounds[2]) AS normal_high,
    countIf(NOT in_window AND v > bounds[2]) AS baseline_high,
    countIf(target AND v < bounds[1]) AS target_low,
    countIf(NOT target AND v < bounds[1]) AS normal_low,
    countIf(NOT in_window AND v < bounds[1]) AS baseline_low
FROM per_call
INNER JOIN (SELECT feature, quantilesIf(0.05, 0.95)(v, NOT in_window) AS bounds FROM per_call GROUP BY feature) AS b USING feature
GROUP BY feature

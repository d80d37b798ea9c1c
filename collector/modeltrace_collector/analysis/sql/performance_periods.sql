-- Labelled rows before win_start (tag 0, the reference) and from it (tag 1, the window):
-- how many, how many predicted wrong, the sum and sum of squares of absolute residuals and their
-- 80th percentile, the calls they came from, and what the labels look like (to tell a
-- classifier from a regressor).
SELECT
    toUInt8(ts_ms >= {win_start:Int64}) AS tag,
    count() AS n,
    countIf(predicted != actual) AS wrong,
    countIf(predicted_num IS NOT NULL AND actual_num IS NOT NULL) AS numeric_n,
    sum(abs(predicted_num - actual_num)) AS abs_sum,
    sum(pow(predicted_num - actual_num, 2)) AS sq_sum,
    quantile(0.8)(abs(predicted_num - actual_num)) AS abs_p80,
    uniqExact(span) AS calls,
    countIf(actual_num IS NULL) AS non_numeric,
    countIf(actual_num IS NOT NULL AND actual_num != floor(actual_num)) AS fractional,
    uniqExact(actual) AS labels
FROM ({pairs})
GROUP BY tag
ORDER BY tag

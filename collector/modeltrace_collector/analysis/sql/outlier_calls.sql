-- Every call's outlier score: the largest robust z of its numeric input values, |x - median| /
-- (IQR / 1.349) with the reference's median and interquartile range per feature (features with
-- at least min_values reference values and some spread), and the feature it comes from.
WITH robust AS (
    SELECT feature, quantileExact(0.5)(value) AS centre,
           (quantileExact(0.75)(value) - quantileExact(0.25)(value)) / 1.349 AS scale
    FROM ({source})
    WHERE tag = 0 AND NOT isNaN(value)
    GROUP BY feature
    HAVING count() >= {min_values:UInt32} AND scale > 0
)
SELECT tag, call, any(span) AS span, max(abs(value - r.centre) / r.scale) AS score,
       argMax(feature, abs(value - r.centre) / r.scale) AS worst
FROM ({source}) AS v
INNER JOIN robust AS r ON r.feature = v.feature
WHERE NOT isNaN(value)
GROUP BY tag, call

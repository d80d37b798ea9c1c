-- The range of one numeric feature in both samples for its histogram: the 0.5th and 99.5th
-- percentiles (outliers do not flatten the bars), and the count of distinct values (few values
-- are drawn as bars).
SELECT quantileIf(0.005)(value, NOT isNaN(value)) AS lo, quantileIf(0.995)(value, NOT isNaN(value)) AS hi,
       uniqUpToIf(21)(value, NOT isNaN(value)) AS distinct_values, count() AS n
FROM ({source})
WHERE feature = {feature:String}

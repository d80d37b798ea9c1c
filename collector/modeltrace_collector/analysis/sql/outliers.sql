-- Calls and outlier calls (score above the z parameter) per side: the reference (tag 0) and the window (1).
SELECT tag, count() AS calls, countIf(score > {z:Float64}) AS outliers
FROM ({calls})
GROUP BY tag
ORDER BY tag

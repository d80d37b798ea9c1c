-- How often a prediction is right per decile of its score, from the calls that have ground truth.
SELECT least(toUInt8(floor(score * 10)), 9) AS bin, count() AS n, avg(predicted = actual) AS accuracy
FROM ({pairs})
WHERE NOT isNaN(score)
GROUP BY bin
ORDER BY bin

-- Durations of the calls matching a search (whatever their duration) in log-spaced bins:
-- per_decade bins per factor of ten, from 1 microsecond.
SELECT toInt32(floor(log10(greatest(Duration, 1000) / 1e6) * {per_decade:UInt8})) AS bin, count() AS n
FROM {db}.ml_predictions
WHERE {where}
GROUP BY bin
ORDER BY bin

-- Confusion counts per version and bucket: (predicted, actual) pairs and how often each occurs.
SELECT version, bucket_ms, predicted, actual, count() AS n
FROM ({pairs})
GROUP BY version, bucket_ms, predicted, actual
ORDER BY version, bucket_ms

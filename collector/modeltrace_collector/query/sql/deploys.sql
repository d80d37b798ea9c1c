-- When each version of a model was first seen: its deploy.
SELECT ModelVersion AS version, toUnixTimestamp(min(Minute)) * 1000 AS first_seen_ms
FROM {db}.ml_latency_minutes
WHERE ModelName = {model:String}
GROUP BY version
ORDER BY first_seen_ms

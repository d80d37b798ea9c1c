ALTER TABLE {db}.ml_latency_minutes {on_cluster}
ADD COLUMN IF NOT EXISTS UnprofiledDurations AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt64)

ALTER TABLE {db}.ml_latency_minutes {on_cluster}
ADD COLUMN IF NOT EXISTS UnprofiledCalls SimpleAggregateFunction(sum, UInt64)

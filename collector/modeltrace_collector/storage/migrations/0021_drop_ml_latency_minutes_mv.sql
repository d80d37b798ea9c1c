DROP VIEW IF EXISTS {db}.ml_latency_minutes_mv {on_cluster}

DROP VIEW IF EXISTS {database}.ml_latency_minutes_mv {on_cluster}

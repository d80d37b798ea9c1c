ALTER TABLE {database}.ml_latency_minutes {on_cluster}
MODIFY SETTING {dedup_window}

ALTER TABLE {db}.ml_latency_minutes {on_cluster}
MODIFY SETTING {dedup_window}

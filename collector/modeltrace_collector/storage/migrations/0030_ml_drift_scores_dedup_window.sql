ALTER TABLE {db}.ml_drift_scores {on_cluster}
MODIFY SETTING {dedup_window}

ALTER TABLE {database}.ml_drift_scores {on_cluster}
MODIFY SETTING {dedup_window}

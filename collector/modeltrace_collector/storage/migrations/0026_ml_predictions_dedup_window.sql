ALTER TABLE {db}.ml_predictions {on_cluster}
MODIFY SETTING {dedup_window}

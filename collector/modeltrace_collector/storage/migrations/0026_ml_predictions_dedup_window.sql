ALTER TABLE {database}.ml_predictions {on_cluster}
MODIFY SETTING {dedup_window}

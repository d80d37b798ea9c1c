ALTER TABLE {database}.ml_features {on_cluster}
MODIFY SETTING {dedup_window}

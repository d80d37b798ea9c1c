ALTER TABLE {db}.ml_features {on_cluster}
MODIFY SETTING {dedup_window}

ALTER TABLE {db}.ml_actuals {on_cluster}
MODIFY SETTING {dedup_window}

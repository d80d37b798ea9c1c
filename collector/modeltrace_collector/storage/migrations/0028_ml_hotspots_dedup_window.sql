ALTER TABLE {database}.ml_hotspots {on_cluster}
MODIFY SETTING {dedup_window}

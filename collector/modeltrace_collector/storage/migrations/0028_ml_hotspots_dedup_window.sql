ALTER TABLE {db}.ml_hotspots {on_cluster}
MODIFY SETTING {dedup_window}

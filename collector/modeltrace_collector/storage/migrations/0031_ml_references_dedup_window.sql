-- A plain ReplacingMergeTree even on a cluster (0008): the window for unreplicated tables
ALTER TABLE {db}.ml_references {on_cluster}
MODIFY SETTING non_replicated_deduplication_window = 10000

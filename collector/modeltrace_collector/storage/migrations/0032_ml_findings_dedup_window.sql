-- A plain ReplacingMergeTree even on a cluster (0009): the window for unreplicated tables
ALTER TABLE {db}.ml_findings {on_cluster}
MODIFY SETTING non_replicated_deduplication_window = 10000

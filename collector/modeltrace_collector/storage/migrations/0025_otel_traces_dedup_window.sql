ALTER TABLE {db}.otel_traces {on_cluster}
MODIFY SETTING {dedup_window}

ALTER TABLE {database}.otel_traces {on_cluster}
MODIFY SETTING {dedup_window}

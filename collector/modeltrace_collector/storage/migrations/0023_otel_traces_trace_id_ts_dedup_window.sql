ALTER TABLE {db}.otel_traces_trace_id_ts {on_cluster}
MODIFY SETTING {dedup_window}

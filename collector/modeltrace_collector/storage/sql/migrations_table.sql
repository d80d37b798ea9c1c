-- what the migrations in storage/migrations have done here
CREATE TABLE IF NOT EXISTS {db}.modeltrace_schema_migrations {on_cluster}
(version UInt32, name String, applied_at DateTime DEFAULT now())
ENGINE = ReplacingMergeTree ORDER BY version

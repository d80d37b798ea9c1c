SELECT version FROM {db}.modeltrace_schema_migrations ORDER BY version

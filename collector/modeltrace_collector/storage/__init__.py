"""ClickHouse storage: one client for embedded chDB and ClickHouse servers, and the schema."""

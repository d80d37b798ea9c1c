CREATE TABLE IF NOT EXISTS {db}.ml_hotspots {on_cluster}
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ModelName LowCardinality(String),
    ModelVersion LowCardinality(String),
    Operation LowCardinality(String),
    Function String CODEC(ZSTD(1)),
    File LowCardinality(String),
    Line UInt32,
    Calls UInt64,
    SelfMs Float64,
    CumMs Float64
)
ENGINE = {engine}
PARTITION BY toDate(Timestamp)
ORDER BY (ModelName, ModelVersion, toDateTime(Timestamp))
{ttl:toDateTime(Timestamp)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000

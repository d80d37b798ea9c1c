CREATE TABLE IF NOT EXISTS {db}.ml_features {on_cluster}
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ModelName LowCardinality(String),
    ModelVersion LowCardinality(String),
    Operation LowCardinality(String),
    Side LowCardinality(String),
    NumFeature Array(LowCardinality(String)),
    NumRow Array(UInt16),
    NumValue Array(Float64),
    CatFeature Array(LowCardinality(String)),
    CatRow Array(UInt16),
    CatValue Array(Nullable(String))
)
ENGINE = {engine}
PARTITION BY toDate(Timestamp)
ORDER BY (ModelName, ModelVersion, Side, toDateTime(Timestamp))
{ttl:toDateTime(Timestamp)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000

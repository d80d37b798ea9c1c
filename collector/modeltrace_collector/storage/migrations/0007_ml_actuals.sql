CREATE TABLE IF NOT EXISTS {db}.ml_actuals {on_cluster}
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    PredictionId String CODEC(ZSTD(1)),
    ModelName LowCardinality(String),
    ModelVersion LowCardinality(String),
    NumValue Array(Float64),
    CatValue Array(Nullable(String)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    INDEX idx_prediction_id PredictionId TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = {engine}
PARTITION BY toDate(Timestamp)
ORDER BY (ModelName, toDateTime(Timestamp))
{ttl:toDateTime(Timestamp)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000

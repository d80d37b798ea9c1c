CREATE TABLE IF NOT EXISTS {db}.ml_predictions {on_cluster}
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String),
    ModelName LowCardinality(String),
    ModelVersion LowCardinality(String),
    Framework LowCardinality(String),
    Operation LowCardinality(String),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    InputRows UInt32 CODEC(T64, ZSTD(1)),
    InputColumns UInt32 CODEC(T64, ZSTD(1)),
    OutputRows UInt32 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String),
    ErrorType LowCardinality(String),
    PredictionId String CODEC(ZSTD(1)),
    HostName LowCardinality(String),
    ProfileSampled Bool,
    MalformedFields UInt8,
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_prediction_id PredictionId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
)
ENGINE = {engine}
PARTITION BY toDate(Timestamp)
ORDER BY (ModelName, ModelVersion, Operation, toDateTime(Timestamp))
{ttl:toDateTime(Timestamp)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000

CREATE TABLE IF NOT EXISTS {db}.ml_drift_scores {on_cluster}
(
    Timestamp DateTime64(3) CODEC(Delta(8), ZSTD(1)),
    ModelName LowCardinality(String),
    ModelVersion LowCardinality(String),
    Side LowCardinality(String),
    Feature String,
    FeatureType LowCardinality(String),
    Test LowCardinality(String),
    Score Float64,
    Threshold Float64,
    Drifted Bool,
    PValue Float64,
    PSI Float64,
    JS Float64,
    WassersteinNorm Float64,
    NullRate Float64,
    OutOfRangeRate Float64,
    NReference UInt64,
    NCurrent UInt64
)
ENGINE = {engine}
PARTITION BY toDate(Timestamp)
ORDER BY (ModelName, ModelVersion, Feature, Timestamp)
{ttl:toDateTime(Timestamp)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000

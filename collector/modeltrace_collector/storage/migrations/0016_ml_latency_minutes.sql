CREATE TABLE IF NOT EXISTS {db}.ml_latency_minutes {on_cluster}
(
    Minute DateTime CODEC(Delta(4), ZSTD(1)),
    ModelName LowCardinality(String),
    ModelVersion LowCardinality(String),
    Operation LowCardinality(String),
    Calls SimpleAggregateFunction(sum, UInt64),
    Errors SimpleAggregateFunction(sum, UInt64),
    Durations AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt64)
)
ENGINE = {engine:AggregatingMergeTree}
PARTITION BY toDate(Minute)
ORDER BY (ModelName, ModelVersion, Operation, Minute)
{ttl:Minute}
SETTINGS ttl_only_drop_parts = 1

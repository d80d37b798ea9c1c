CREATE TABLE IF NOT EXISTS {db}.ml_references {on_cluster}
(
    CreatedAt DateTime64(3) CODEC(Delta(8), ZSTD(1)),
    ReferenceId String,
    ModelName LowCardinality(String),
    ModelVersion LowCardinality(String),
    Side LowCardinality(String),
    Feature LowCardinality(String),
    Source LowCardinality(String),
    NumValue Array(Float64),
    CatValue Array(Nullable(String))
)
ENGINE = ReplacingMergeTree(CreatedAt)
ORDER BY (ModelName, ModelVersion, Side, Feature, ReferenceId)

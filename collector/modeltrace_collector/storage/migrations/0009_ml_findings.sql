CREATE TABLE IF NOT EXISTS {db}.ml_findings {on_cluster}
(
    FindingId String,
    Kind LowCardinality(String),
    ModelName LowCardinality(String),
    ModelVersion LowCardinality(String),
    Operation LowCardinality(String),
    Subject String,
    Score Float64,
    Threshold Float64,
    Severity LowCardinality(String),
    WindowStart DateTime64(3),
    WindowEnd DateTime64(3),
    Evidence String CODEC(ZSTD(1)),
    OpenedAt DateTime64(3),
    ResolvedAt Nullable(DateTime64(3)),
    UpdatedAt DateTime64(3)
)
ENGINE = ReplacingMergeTree(UpdatedAt)
ORDER BY (ModelName, Kind, FindingId)

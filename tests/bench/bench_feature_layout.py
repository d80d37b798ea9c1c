"""ml_features layout: per-call arrays (what the schema uses) against one row per value.

Inserts the same modeltrace spans into ``otel_traces`` with either view attached and
compares insert rate, bytes on disk and a drift-style query (per-feature quantiles over
every sampled value of one model). Run: ``python tests/bench/bench_feature_layout.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

LONG_TABLE = """
CREATE TABLE modeltrace.ml_features_long (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)), TraceId String CODEC(ZSTD(1)), SpanId String CODEC(ZSTD(1)),
    ModelName LowCardinality(String), ModelVersion LowCardinality(String), Side LowCardinality(String),
    Feature LowCardinality(String), Row UInt16, Value Float64
) ENGINE = MergeTree PARTITION BY toDate(Timestamp)
ORDER BY (ModelName, ModelVersion, Side, Feature, toDateTime(Timestamp))
"""
LONG_VIEW = """
CREATE MATERIALIZED VIEW modeltrace.ml_features_long_mv TO modeltrace.ml_features_long AS
SELECT Timestamp, TraceId, SpanId, SpanAttributes['ml.model.name'] AS ModelName,
       SpanAttributes['ml.model.version'] AS ModelVersion, 'input' AS Side,
       cell.1 AS Feature, toUInt16(cell.2) AS Row, cell.3 AS Value
FROM modeltrace.otel_traces
ARRAY JOIN arrayFlatten(arrayMap(p -> arrayMap((v, i) -> (p.1, i - 1, ifNull(v, nan)),
        JSONExtract(p.2, 'Array(Nullable(Float64))') AS vals, arrayEnumerate(vals)),
    JSONExtractKeysAndValuesRaw(SpanAttributes['ml.input.sample']))) AS cell
WHERE SpanAttributes['ml.model.name'] != '' AND isValidJSON(SpanAttributes['ml.input.sample'])
"""
ARRAY_QUERY = """
SELECT f, quantiles(0.1, 0.5, 0.9)(v) FROM modeltrace.ml_features
ARRAY JOIN NumFeature AS f, NumValue AS v WHERE ModelName = 'fraud' AND Side = 'input' GROUP BY f
"""
LONG_QUERY = """
SELECT Feature, quantiles(0.1, 0.5, 0.9)(Value) FROM modeltrace.ml_features_long
WHERE ModelName = 'fraud' AND Side = 'input' GROUP BY Feature
"""


def main() -> int:
    from modeltrace_collector.pipeline.flatten import TABLES, Batch, flatten
    from modeltrace_collector.storage.client import resolve
    from modeltrace_collector.storage.migrate import SchemaOptions
    from modeltrace_collector.storage.store import Store
    from tests.bench.bench_ingest import encoded_requests

    requests = encoded_requests(20, 512)
    batch = Batch()
    flatten(requests, batch)
    rounds = 10
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(resolve(f"chdb://{tmp}/chdb", tmp), SchemaOptions())
        store.migrate()
        c = store.client
        for view in ("ml_predictions_mv", "ml_hotspots_mv", "ml_actuals_mv", "otel_traces_trace_id_ts_mv"):
            c.command(f"DROP VIEW modeltrace.{view}")
        c.command(LONG_TABLE)
        results = {}
        for layout in ("arrays", "long"):
            if layout == "long":
                c.command("DROP VIEW modeltrace.ml_features_mv")
                c.command(LONG_VIEW)
            c.command("TRUNCATE TABLE modeltrace.otel_traces")
            t0 = time.perf_counter()
            for i in range(rounds):
                store.insert("otel_traces", batch.columns["otel_traces"], TABLES["otel_traces"], f"{layout}-{i}")
            rate = batch.spans * rounds / (time.perf_counter() - t0)
            table = "ml_features" if layout == "arrays" else "ml_features_long"
            c.command(f"OPTIMIZE TABLE modeltrace.{table} FINAL")
            size, rows = c.query(
                f"SELECT sum(bytes_on_disk), sum(rows) FROM system.parts WHERE active AND database = 'modeltrace' "
                f"AND table = '{table}'"
            ).result_rows[0]
            query = ARRAY_QUERY if layout == "arrays" else LONG_QUERY
            timings = []
            for _ in range(5):
                q0 = time.perf_counter()
                c.query(query)
                timings.append(time.perf_counter() - q0)
            results[layout] = (rate, size, rows, sorted(timings)[2])
        store.close()
    values = batch.spans * rounds * 20
    print(f"{values:,} sampled input values ({batch.spans * rounds:,} one-row calls of 20 features)\n")
    print(f"{'layout':<10}{'spans/s inserted':>18}{'bytes on disk':>15}{'rows':>12}{'quantiles query':>18}")
    for layout, (rate, size, rows, q) in results.items():
        print(f"{layout:<10}{rate:>18,.0f}{size:>15,}{rows:>12,}{q * 1000:>15.1f} ms")
    a, lg = results["arrays"], results["long"]
    print(f"\narrays vs long: insert {a[0] / lg[0]:.2f}x, disk {a[1] / lg[1]:.2f}x, query {a[3] / lg[3]:.2f}x the time")
    return 0


if __name__ == "__main__":
    sys.exit(main())

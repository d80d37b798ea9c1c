"""Migrations apply in order on a fresh store, and are a no-op on an up-to-date one."""

import datetime as dt

from modeltrace_collector.storage import migrate as migrate_module
from modeltrace_collector.storage.migrate import MIGRATIONS_TABLE, SchemaOptions, available, migrate, render
from modeltrace_collector.storage.schema import CONTRIB_TRACE_COLUMNS

DEDUP_WINDOW = "non_replicated_deduplication_window = 10000"

EXPECTED_TABLES = {
    "otel_traces",
    "otel_traces_trace_id_ts",
    "otel_traces_trace_id_ts_mv",
    "ml_predictions",
    "ml_features",
    "ml_hotspots",
    "ml_actuals",
    "ml_references",
    "ml_findings",
    "ml_predictions_mv",
    "ml_features_mv",
    "ml_hotspots_mv",
    "ml_actuals_mv",
    "ml_latency_minutes",
    "ml_latency_minutes_mv",
    "ml_drift_scores",
    "modeltrace_schema_migrations",
}


def test_migrations_are_numbered_in_order_one_statement_each():
    found = available()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    for m in found:
        body = m.sql.strip().rstrip(";")
        assert ";" not in body, m.name


def test_apply_on_fresh_then_up_to_date_store(chdb_client):
    options = SchemaOptions(database="mig_fresh", ttl_days=14)
    try:
        applied = migrate(chdb_client, options)
        assert [m.version for m in applied] == [m.version for m in available()]
        tables = {r[0] for r in chdb_client.query("SHOW TABLES FROM mig_fresh").result_rows}
        assert tables == EXPECTED_TABLES
        assert migrate(chdb_client, options) == []
        ddl = chdb_client.query("SHOW CREATE TABLE mig_fresh.otel_traces").result_rows[0][0]
        assert "TTL toDateTime(Timestamp) + toIntervalDay(14)" in ddl
        assert "ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)" in ddl
        assert "idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1" in ddl
    finally:
        chdb_client.command("DROP DATABASE IF EXISTS mig_fresh")


def test_otel_traces_columns_match_the_collector_contrib_exporter(store):
    columns = "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {table:String}"
    cols = dict(store.query(columns, {"db": store.database, "table": "otel_traces"}).result_rows)
    # the product's one column of its own, after the exporter's
    assert list(cols)[-1] == "AttributeTypes"
    assert cols.pop("AttributeTypes") == "Map(LowCardinality(String), LowCardinality(String))"
    assert cols == {
        "Timestamp": "DateTime64(9)",
        "TraceId": "String",
        "SpanId": "String",
        "ParentSpanId": "String",
        "TraceState": "String",
        "SpanName": "LowCardinality(String)",
        "SpanKind": "LowCardinality(String)",
        "ServiceName": "LowCardinality(String)",
        "ResourceAttributes": "Map(LowCardinality(String), String)",
        "ScopeName": "String",
        "ScopeVersion": "String",
        "SpanAttributes": "Map(LowCardinality(String), String)",
        "Duration": "UInt64",
        "StatusCode": "LowCardinality(String)",
        "StatusMessage": "String",
        "Events.Timestamp": "Array(DateTime64(9))",
        "Events.Name": "Array(LowCardinality(String))",
        "Events.Attributes": "Array(Map(LowCardinality(String), String))",
        "Links.TraceId": "Array(String)",
        "Links.SpanId": "Array(String)",
        "Links.TraceState": "Array(String)",
        "Links.Attributes": "Array(Map(LowCardinality(String), String))",
    }
    ts = store.query(columns, {"db": store.database, "table": "otel_traces_trace_id_ts"}).result_rows
    assert dict(ts) == {"TraceId": "String", "Start": "DateTime", "End": "DateTime"}


def test_cluster_rendering():
    sql = render(available()[0].sql, SchemaOptions(database="otel", cluster="prod", ttl_days=0.5))
    assert "CREATE TABLE IF NOT EXISTS `otel`.otel_traces ON CLUSTER 'prod'" in sql
    assert "ENGINE = ReplicatedMergeTree" in sql
    assert "TTL toDateTime(Timestamp) + toIntervalHour(12)" in sql


def test_every_table_gets_a_dedup_window_rendered_for_its_engine():
    single, cluster = SchemaOptions(database="otel"), SchemaOptions(database="otel", cluster="prod")
    windows = {m.name: m for m in available() if m.name.endswith("_dedup_window")}
    replicated = {
        "otel_traces",
        "otel_traces_trace_id_ts",
        "ml_predictions",
        "ml_features",
        "ml_hotspots",
        "ml_actuals",
        "ml_latency_minutes",
        "ml_drift_scores",
    }
    unreplicated = {"ml_references", "ml_findings"}  # a plain ReplacingMergeTree on a cluster too
    assert {name.removesuffix("_dedup_window") for name in windows} == replicated | unreplicated
    for table in replicated:
        sql = windows[f"{table}_dedup_window"].sql
        assert render(sql, single).split() == f"ALTER TABLE `otel`.{table} MODIFY SETTING {DEDUP_WINDOW}".split()
        assert (
            render(sql, cluster).split()
            == (
                f"ALTER TABLE `otel`.{table} ON CLUSTER 'prod' MODIFY SETTING replicated_deduplication_window = 10000, "
                "replicated_deduplication_window_seconds = 604800"
            ).split()
        )
    for table in unreplicated:
        sql = windows[f"{table}_dedup_window"].sql
        for options in (single, cluster):
            assert render(sql, options).rstrip().endswith(f"MODIFY SETTING {DEDUP_WINDOW}")


def test_every_table_keeps_a_dedup_window_after_migrating(store):
    tables = store.query(
        "SELECT name, engine_full FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' "
        "AND name != {log:String}",
        {"db": store.database, "log": MIGRATIONS_TABLE},
    ).result_rows
    assert {name for name, _ in tables} == {t for t in EXPECTED_TABLES if not t.endswith("_mv")} - {MIGRATIONS_TABLE}
    assert [name for name, ddl in tables if DEDUP_WINDOW not in ddl] == []


def test_runs_on_the_requested_clickhouse(chdb_client, clickhouse_version):
    version = chdb_client.query("SELECT version()").result_rows[0][0]
    assert version.startswith("24.8.4." if clickhouse_version == "24.8" else "26.")


def _contrib_row(span_id: str) -> list[list[object]]:
    """One span as the Collector's ClickHouse exporter inserts it: its columns only."""
    row = [
        dt.datetime(2026, 3, 4, 5, 6, 7), "ab" * 16, span_id, "", "", "GET /", "Server", "svc", {"process.pid": "42"},
        "scope", "1", {"n": "7", "ml.input.rows": "3"}, 1000, "Ok", "", [], [], [], [], [], [], [],
    ]  # fmt: skip
    return [[v] for v in row]


def test_attribute_types_column_is_added_to_an_existing_store(chdb_client, monkeypatch):
    """A store migrated before 0035 (or made by the exporter) gets AttributeTypes in place: the rows
    already there, and rows inserted without the column, read an empty map (no types known)."""
    options = SchemaOptions(database="mig_types")
    older = [m for m in available() if m.name != "otel_traces_attribute_types"]
    try:
        monkeypatch.setattr(migrate_module, "available", lambda: older)
        migrate(chdb_client, options)
        monkeypatch.undo()
        chdb_client.insert("mig_types.otel_traces", _contrib_row("01" * 8), column_names=list(CONTRIB_TRACE_COLUMNS),
                           column_oriented=True)  # fmt: skip
        assert [m.name for m in migrate(chdb_client, options)] == ["otel_traces_attribute_types"]
        assert migrate(chdb_client, options) == []
        chdb_client.insert("mig_types.otel_traces", _contrib_row("02" * 8), column_names=list(CONTRIB_TRACE_COLUMNS),
                           column_oriented=True)  # fmt: skip
        rows = chdb_client.query(
            "SELECT SpanId, SpanAttributes, AttributeTypes FROM mig_types.otel_traces ORDER BY SpanId"
        ).result_rows
        assert rows == [
            ("01" * 8, {"n": "7", "ml.input.rows": "3"}, {}),
            ("02" * 8, {"n": "7", "ml.input.rows": "3"}, {}),
        ]
        default = chdb_client.query(
            "SELECT default_kind, default_expression, compression_codec FROM system.columns "
            "WHERE database = 'mig_types' AND table = 'otel_traces' AND name = 'AttributeTypes'"
        ).result_rows
        assert default == [("DEFAULT", "map()", "CODEC(ZSTD(1))")]
    finally:
        chdb_client.command("DROP DATABASE IF EXISTS mig_types")


def test_attribute_types_migration_renders_for_a_cluster():
    [types] = [m for m in available() if m.name == "otel_traces_attribute_types"]
    for options, on_cluster in (
        (SchemaOptions(database="otel"), ""),
        (SchemaOptions(database="otel", cluster="prod"), "ON CLUSTER 'prod'"),
    ):
        sql = render(types.sql, options)
        statement = [line for line in sql.splitlines() if not line.startswith("--")]
        assert " ".join(statement).startswith(
            f"ALTER TABLE `otel`.otel_traces {on_cluster} ADD COLUMN IF NOT EXISTS AttributeTypes "
            "Map(LowCardinality(String), LowCardinality(String)) DEFAULT map()"
        )

"""deploy/: every Grafana panel's SQL runs on chDB (macros expanded as the ClickHouse data source
expands them) and returns the columns the panel expects; the compose file, the provisioning
and the Jaeger and collector configs hang together."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import pathlib
import re
import sys
from typing import Any

import jsonschema
import pytest
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from modeltrace_collector.analysis.runner import Analyzer
from modeltrace_collector.config import load
from modeltrace_collector.pipeline.flatten import TABLES, flatten
from tests.bench.scenarios import MINUTE_NS, Scenario, kv, requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("grafana_dashboards", DEPLOY / "grafana" / "dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["grafana_dashboards"] = module
    spec.loader.exec_module(module)
    return module


GEN = _generator()
DASHBOARDS = GEN.build()


def test_committed_dashboards_are_what_the_generator_builds():
    committed = sorted(p.name for p in (DEPLOY / "grafana" / "dashboards").glob("*.json"))
    assert committed == sorted(f"{uid}.json" for uid in DASHBOARDS), "run python deploy/grafana/dashboards.py"
    for uid, d in DASHBOARDS.items():
        assert (DEPLOY / "grafana" / "dashboards" / f"{uid}.json").read_text() == GEN.render(d), uid


DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["uid", "title", "panels", "templating", "time", "schemaVersion"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-z0-9-]{1,40}$"},
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "datasource", "gridPos", "targets"],
                "properties": {
                    "type": {"enum": ["timeseries", "table", "barchart", "traces", "stat"]},
                    "gridPos": {
                        "type": "object",
                        "required": ["x", "y", "w", "h"],
                        "properties": {"x": {"minimum": 0, "maximum": 23}, "w": {"minimum": 1, "maximum": 24}},
                    },
                    "targets": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["refId", "datasource", "editorType", "queryType", "format", "rawSql"],
                            "properties": {
                                "editorType": {"const": "sql"},
                                "queryType": {"enum": ["timeSeries", "table", "traces", "logs"]},
                                "format": {"enum": [0, 1, 2, 3]},
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_dashboards_are_well_formed_and_use_the_provisioned_data_source():
    datasources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/datasources.yaml").read_text())
    uids = {d["uid"]: d["type"] for d in datasources["datasources"]}
    for d in DASHBOARDS.values():
        jsonschema.validate(d, DASHBOARD_SCHEMA)
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids))
        for p in d["panels"]:
            assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
            for t in [*p["targets"], p]:
                assert uids[t["datasource"]["uid"]] == t["datasource"]["type"]
        variables = {v["name"] for v in d["templating"]["list"]}
        for p in d["panels"]:
            used = set(re.findall(r"\$\{?(\w+)", p["title"] + " " + p["targets"][0]["rawSql"])) - {"__timeFilter",
                "__timeInterval", "__interval_s", "__fromTime", "__toTime"}  # fmt: skip
            assert used <= variables, (p["title"], used - variables)
    # a trace panel returns Grafana's trace frame
    trace_panels = [p for d in DASHBOARDS.values() for p in d["panels"] if p["type"] == "traces"]
    assert trace_panels and all(p["targets"][0]["format"] == GEN.TRACE for p in trace_panels)


# -- every panel query against chDB ---------------------------------------------------------

START_NS = int(dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc).timestamp() * 1e9)


def expand(sql: str, start_s: int, end_s: int, interval_s: int, variables: dict[str, str]) -> str:
    """The ClickHouse data source's macros and Grafana's variable formats, as they expand."""

    def quote(v: str) -> str:
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"

    sql = re.sub(r"\$__timeFilter_ms\(([^)]*)\)", lambda m: f"{m[1]} >= fromUnixTimestamp64Milli({start_s * 1000}) "
                 f"AND {m[1]} <= fromUnixTimestamp64Milli({end_s * 1000})", sql)  # fmt: skip
    sql = re.sub(
        r"\$__timeFilter\(([^)]*)\)",
        lambda m: f"{m[1]} >= toDateTime({start_s}) AND {m[1]} <= toDateTime({end_s})",
        sql,
    )
    sql = re.sub(
        r"\$__timeInterval\(([^)]*)\)",
        lambda m: f"toStartOfInterval(toDateTime({m[1]}), INTERVAL {interval_s} second)",
        sql,
    )
    sql = sql.replace("$__interval_s", str(interval_s))
    sql = sql.replace("$__fromTime", f"toDateTime({start_s})").replace("$__toTime", f"toDateTime({end_s})")
    for name, value in variables.items():
        sql = sql.replace(f"${{{name}:singlequote}}", quote(value))
        sql = re.sub(rf"\$\{{{name}\}}|\${name}\b", value, sql)
    assert "$" not in sql, sql
    return sql


def hotspot_request(model: str, at_ns: int) -> bytes:
    hotspots = json.dumps([
        {"function": "predict_proba", "file": "forest.py", "line": 900, "calls": 1, "self_ms": 4.5, "cum_ms": 9.0},
        {"function": "_validate_data", "file": "base.py", "line": 600, "calls": 2, "self_ms": 1.5, "cum_ms": 2.0},
    ])  # fmt: skip
    attrs = {"ml.model.name": model, "ml.model.version": "1.0", "ml.operation.name": "handle",
             "ml.profile.sampled": "true", "ml.profile.hotspots": hotspots}  # fmt: skip
    span = Span(
        trace_id=bytes(range(16)), span_id=bytes(range(8)), name=f"handle {model}", kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=at_ns, end_time_unix_nano=at_ns + 10_000_000,
        attributes=[kv(k, v) for k, v in attrs.items()],
    )  # fmt: skip
    rs = ResourceSpans(
        resource=Resource(attributes=[kv("service.name", "scoring-api")]),
        scope_spans=[ScopeSpans(spans=[span])],
    )
    return ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString()


@pytest.fixture(scope="module")
def populated(chdb_target, chdb_client):
    """A store holding a scenario with a slow, drifted input (latency and drift findings)."""
    import uuid

    from modeltrace_collector.storage.migrate import SchemaOptions
    from modeltrace_collector.storage.store import Store

    store = Store(chdb_target, SchemaOptions(database=f"t_{uuid.uuid4().hex[:12]}"), client=chdb_client)
    store.migrate()
    sc = Scenario("drifted_feature", 7, "fraud", START_NS, baseline_minutes=120, fault_minutes=20)
    batch = flatten([*requests(sc), hotspot_request("fraud", sc.fault_start_ns + 5 * MINUTE_NS)])
    store.insert("otel_traces", batch.columns["otel_traces"], TABLES["otel_traces"], "deploy-test")
    end_ms = sc.end_ns // 1_000_000
    analyzer = Analyzer(store)
    for k in (10, 15, 20):  # the scheduler's runs through the fault
        analyzer.run(at_ms=(sc.fault_start_ns + k * MINUTE_NS) // 1_000_000, model="fraud")
    trace_id = store.query(f"SELECT any(TraceId) FROM {store.database}.otel_traces").result_rows[0][0]
    yield store, START_NS // 10**9, end_ms // 1000 + 60, trace_id
    chdb_client.command(f"DROP DATABASE IF EXISTS `{store.database}`")


PANELS = [(uid, p) for uid, d in DASHBOARDS.items() for p in d["panels"]]


@pytest.mark.parametrize(("uid", "panel"), PANELS, ids=[f"{u}:{p['title']}" for u, p in PANELS])
def test_panel_query_returns_its_columns(populated, uid, panel):
    store, start_s, end_s, trace_id = populated
    sql = expand(panel["targets"][0]["rawSql"], start_s, end_s, 300, {"model": "fraud", "trace_id": trace_id})
    result = store.query(sql.replace("modeltrace.", f"{store.database}."))
    assert list(result.column_names) == GEN.COLUMNS[panel["title"]]
    assert result.result_rows, f"{panel['title']}: no rows on data that should fill it"
    if panel["title"] == "Root causes of anomalies of $model":
        # the scenario's truth: the model is slow on high f2 values
        first = dict(zip(result.column_names, result.result_rows[0]))
        assert first["rank"] == 1 and first["cause"].startswith("input.f2=") and "f2" in first["evidence"]
    if panel["targets"][0]["format"] == GEN.TIME_SERIES:
        times = [r[0] for r in result.result_rows]
        assert all(isinstance(t, dt.datetime) for t in times) and times == sorted(times)


def test_model_variable_query(populated):
    store, start_s, end_s, _ = populated
    sql = expand(GEN.MODEL_VAR["query"], start_s, end_s, 300, {})
    assert store.query(sql.replace("modeltrace.", f"{store.database}.")).result_rows == [("fraud",)]


# -- compose, provisioning, Jaeger and collector configs ---------------------------------------

COMPOSE_SCHEMA = {
    "type": "object",
    "required": ["services", "volumes"],
    "properties": {
        "services": {
            "type": "object",
            "required": ["clickhouse", "collector", "jaeger", "grafana"],
            "additionalProperties": {
                "type": "object",
                "anyOf": [{"required": ["image"]}, {"required": ["build"]}],
                "required": ["healthcheck", "restart"],
                "properties": {
                    "image": {"type": "string", "pattern": r"^[\w./-]+:[\w.-]+$"},
                    "ports": {"type": "array", "items": {"type": "string", "pattern": r"^\d+:\d+$"}},
                    "healthcheck": {"type": "object", "required": ["test", "interval", "retries"]},
                    "depends_on": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "required": ["condition"],
                            "properties": {"condition": {"enum": ["service_healthy", "service_started"]}},
                        },
                    },
                },
            },
        },
        "volumes": {"type": "object"},
    },
}


def test_compose_file_is_consistent():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    jsonschema.validate(compose, COMPOSE_SCHEMA)
    services = compose["services"]
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, (name, dep)
        for mount in svc.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
            else:
                assert source in compose["volumes"], (name, source)
    build = services["collector"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    published = {p.split(":")[1] for p in services["collector"]["ports"]}
    assert {"4317", "4318", "8080"} <= published and "17271" in services["collector"]["expose"]
    # the collector's config mounted into it is valid and listens where the others look
    config = load(str(DEPLOY / "collector.toml"))
    assert config["receivers"]["grpc"].endswith(":4317") and config["jaeger"]["grpc"].endswith(":17271")
    assert config["api"]["listen"].endswith(":8080")
    dsn = services["collector"]["environment"]["MODELTRACE_STORAGE_DSN"]
    assert dsn.startswith("http://") and "@clickhouse:8123" in dsn
    # published on every interface, so with tokens: one per scope, from the environment, required
    tokens = services["collector"]["environment"]["MODELTRACE_AUTH_TOKENS"].split()
    assert [t.split(":")[0] for t in tokens] == ["ingest", "read", "admin"]
    assert all("${MODELTRACE_" in t and ":?" in t for t in tokens)
    for name in ("jaeger", "grafana"):
        assert services[name]["environment"]["MODELTRACE_READ_TOKEN"].startswith("${MODELTRACE_READ_TOKEN:?")


def test_jaeger_config_points_at_the_collector():
    cfg = yaml.safe_load((DEPLOY / "jaeger/config.yaml").read_text())
    backends = cfg["extensions"]["jaeger_storage"]["backends"]
    storage = cfg["extensions"]["jaeger_query"]["storage"]["traces"]
    assert storage in backends
    grpc_cfg = backends[storage]["grpc"]
    assert grpc_cfg["endpoint"] == "collector:17271" and grpc_cfg["tls"]["insecure"] is True
    assert grpc_cfg["writer"]["endpoint"] == "collector:4317"
    assert grpc_cfg["headers"] == {"authorization": "Bearer ${env:MODELTRACE_READ_TOKEN}"}
    assert grpc_cfg["writer"]["headers"] == {"authorization": "Bearer ${env:MODELTRACE_INGEST_TOKEN}"}
    assert cfg["exporters"]["jaeger_storage_exporter"]["trace_storage"] == storage
    for pipeline in cfg["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            for name in pipeline.get(kind, []):
                assert name in cfg[kind], (kind, name)
    assert set(cfg["service"]["extensions"]) <= set(cfg["extensions"])


def test_grafana_provisioning():
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/datasources.yaml").read_text())
    assert ds["apiVersion"] == 1
    by_type = {d["type"]: d for d in ds["datasources"] if d["type"] != "jaeger"}
    ch = by_type["grafana-clickhouse-datasource"]["jsonData"]
    assert (ch["host"], ch["port"], ch["protocol"]) == ("clickhouse", 9000, "native")
    assert ch["traces"] == {
        "defaultDatabase": "modeltrace", "defaultTable": "otel_traces", "otelEnabled": True, "otelVersion": "latest",
        "durationUnit": "nanoseconds", "traceTimestampTableSuffix": "_trace_id_ts",
    }  # fmt: skip
    jaeger_urls = sorted(d["url"] for d in ds["datasources"] if d["type"] == "jaeger")
    assert jaeger_urls == ["http://collector:8080/jaeger", "http://jaeger:16686"]
    (collector_ds,) = [d for d in ds["datasources"] if d.get("url") == "http://collector:8080/jaeger"]
    assert collector_ds["jsonData"]["httpHeaderName1"] == "Authorization"
    assert collector_ds["secureJsonData"]["httpHeaderValue1"] == "Bearer ${MODELTRACE_READ_TOKEN}"
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/dashboards.yaml").read_text())
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    mounts = dict(m.split(":")[:2] for m in compose["services"]["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == providers["providers"][0]["options"]["path"]

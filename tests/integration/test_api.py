"""The read API and the CLI against a collector holding known spans."""

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from tests.integration.collector_proc import ROOT, CollectorProcess
from tests.integration.test_ingest import run_sdk

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    proc = CollectorProcess(str(tmp_path_factory.mktemp("api")), "api.sql_max_rows=50").start()
    run_sdk(
        f"""
        import time
        import numpy as np
        import modeltrace
        modeltrace.configure(service_name="api-test", endpoint="{proc.grpc_endpoint}", protocol="grpc")

        def busy(ms):
            end = time.perf_counter() + ms / 1000
            while time.perf_counter() < end:
                pass

        for version, ms in (("1", 1), ("2", 5)):
            @modeltrace.trace_model(name="ranker", version=version, profile_rate=1.0)
            def predict(x):
                busy(ms)
                return x

            for i in range(30):
                predict(float(i))

        @modeltrace.trace_model(name="ranker", version="2", profile_rate=0)
        def broken(x):
            raise ValueError("bad input")

        for i in range(3):
            try:
                broken(1.0)
            except ValueError:
                pass
        """
    )
    proc.wait_stored("ml_predictions", 63)
    proc.wait_stored("ml_hotspots", 60)
    yield proc
    proc.stop()
    proc.kill()


def test_models_and_latency(loaded):
    status, body = loaded.get("/api/models")
    assert status == 200
    assert sorted((m["model"], m["version"], m["calls"]) for m in body["models"]) == [
        ("ranker", "1", 30),
        ("ranker", "2", 33),
    ]
    status, body = loaded.get("/api/latency?model=ranker&window=1h")
    by_version = {r["version"]: r for r in body["latency"]}
    assert by_version["1"]["calls"] == 30 and by_version["2"]["errors"] == 3
    assert 0.9 < by_version["1"]["p50_ms"] < by_version["2"]["p50_ms"]
    assert by_version["2"]["p50_ms"] >= 4.5


def test_hotspots_name_the_busy_function(loaded):
    status, body = loaded.get("/api/hotspots?model=ranker&limit=3")
    assert status == 200
    top = {r["version"]: r for r in body["hotspots"] if r["function"] == "busy"}
    assert set(top) == {"1", "2"}
    assert top["2"]["cum_ms_avg"] > top["1"]["cum_ms_avg"]


def test_unknown_model_and_bad_parameters(loaded):
    status, body = loaded.get("/api/latency?model=nope")
    assert status == 404 and "unknown model 'nope'" in body["error"] and "ranker" in body["error"]
    assert loaded.get("/api/latency?window=forever")[0] == 400
    assert loaded.get("/api/hotspots?limit=0")[0] == 400
    assert loaded.get("/api/traces/xyz")[0] == 400
    assert loaded.get("/api/traces/" + "0" * 32)[0] == 404
    assert loaded.get("/api/nothing")[0] == 404


def test_trace_by_id(loaded):
    status, body = loaded.get("/api/predictions?model=ranker&limit=1")
    trace_id = body["predictions"][0]["trace_id"]
    status, trace = loaded.get(f"/api/traces/{trace_id}")
    assert status == 200 and trace["spans"][0]["trace_id"] == trace_id
    assert trace["spans"][0]["attributes"]["ml.model.name"] == "ranker"


def sql_status(proc, query, **parameters):
    body = json.dumps({"query": query, "parameters": parameters}).encode()
    request = urllib.request.Request(proc.api + "/api/sql", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    "query",
    [
        "DROP TABLE modeltrace.ml_predictions",
        "INSERT INTO modeltrace.ml_findings (FindingId) VALUES ('x')",
        "SELECT 1; DROP TABLE modeltrace.ml_predictions",
        "SELECT 1 SETTINGS readonly = 0",
        "SELECT * FROM modeltrace.ml_predictions INTO OUTFILE '/tmp/x'",
        "ALTER TABLE modeltrace.ml_predictions DELETE WHERE 1",
        "/* hi */ TRUNCATE TABLE modeltrace.ml_predictions",
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "CREATE TABLE modeltrace.x (a UInt8) ENGINE = Memory",
    ],
)
def test_hostile_sql_is_refused_and_changes_nothing(loaded, query):
    status, body = sql_status(loaded, query)
    assert status in (400, 403), body
    assert loaded.count("ml_predictions") == 63


def test_sql_with_parameters_and_row_limit(loaded):
    status, body = sql_status(
        loaded, "SELECT ModelVersion, count() AS n FROM modeltrace.ml_predictions WHERE ModelName = {m:String} "
        "GROUP BY ModelVersion ORDER BY ModelVersion", m="ranker"
    )  # fmt: skip
    assert status == 200 and body["columns"] == ["ModelVersion", "n"] and body["rows"] == [["1", 30], ["2", 33]]
    status, body = sql_status(loaded, "SELECT number FROM system.numbers LIMIT 100000")
    assert status == 200 and body["row_count"] == 50 and body["truncated"] is True
    assert body["message"] == "result truncated at 50 rows (api.sql_max_rows)"


def test_ingest_still_works_after_read_only_queries(loaded):
    sql_status(loaded, "SHOW TABLES FROM modeltrace")
    sql_status(loaded, "DESCRIBE TABLE modeltrace.otel_traces")
    sql_status(loaded, "SELECT 1")
    before = loaded.count("otel_traces")
    run_sdk(
        f"""
        import modeltrace
        modeltrace.configure(service_name="later", endpoint="{loaded.grpc_endpoint}", protocol="grpc")
        modeltrace.trace_model(name="later", profile_rate=0)(lambda x: x)(1.0)
        """
    )
    loaded.wait_stored("otel_traces", before + 1)


def test_metrics_endpoint(loaded):
    text = urllib.request.urlopen(loaded.api + "/metrics", timeout=10).read().decode()
    assert "modeltrace_spans_received_total" in text and "modeltrace_spool_bytes" in text
    stored = [line for line in text.splitlines() if line.startswith("modeltrace_spans_stored_total")]
    assert float(stored[0].split()[-1]) >= 63


def test_cli_reads_through_the_api(loaded):
    env = dict(os.environ, PYTHONPATH=ROOT, MODELTRACE_API_URL=loaded.api)
    out = subprocess.run(
        [sys.executable, "-m", "modeltrace_collector", "latency", "ranker"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["model", "version", "operation", "calls"]
    assert any(line.split()[:4] == ["ranker", "2", "predict", "33"] for line in lines[2:])
    js = subprocess.run(
        [sys.executable, "-m", "modeltrace_collector", "models", "--json"], capture_output=True, text=True, env=env
    )
    assert {m["version"] for m in json.loads(js.stdout)["models"] if m["model"] == "ranker"} == {"1", "2"}
    bad = subprocess.run(
        [sys.executable, "-m", "modeltrace_collector", "hotspots", "nope"], capture_output=True, text=True, env=env
    )
    assert bad.returncode != 0 and "unknown model 'nope'" in bad.stderr


def _served_routes() -> set[str]:
    """The paths the API's route code compares against, read from its source."""
    import re

    api = os.path.join(ROOT, "collector", "modeltrace_collector", "api")
    out = set()
    for name, prefix in (
        ("server.py", ""),
        ("catalog_routes.py", ""),
        ("analysis_routes.py", ""),
        ("deadletter_routes.py", "/api/deadletters"),
    ):
        with open(os.path.join(api, name), encoding="utf-8") as f:
            for literal in re.findall(r'"(/[a-z_./]*)"', f.read()):
                literal = (
                    literal
                    if literal.startswith(("/api", "/health", "/ready", "/metrics", "/openapi"))
                    else prefix + literal
                )
                if literal not in ("", "/", "/index.html"):  # the web UI's files are not API routes
                    out.add(literal.rstrip("/"))
    return out


def test_openapi_describes_every_route_and_real_answers_match_it(loaded):
    import re

    import jsonschema
    import referencing
    from openapi_spec_validator import validate
    from referencing.jsonschema import DRAFT202012

    status, doc = loaded.get("/openapi.json")
    assert status == 200
    validate(doc)  # a valid OpenAPI 3.1 document
    described = {re.sub(r"/\{[^}]+\}$", "", p) for p in doc["paths"]}
    assert described == _served_routes()

    registry = referencing.Registry().with_resource("urn:api", DRAFT202012.create_resource(doc))
    trace_id = loaded.get("/api/predictions?limit=1")[1]["predictions"][0]["trace_id"]
    checked = 0
    for template, query in (
        ("/health", ""), ("/ready", ""), ("/api/models", ""), ("/api/latency", "?model=ranker&window=1h"),
        ("/api/hotspots", "?model=ranker"), ("/api/predictions", "?limit=5"), ("/api/findings", ""),
        ("/api/anomalies", ""), ("/api/references", ""), ("/api/deadletters", ""), ("/api/deadletters/export", ""),
        ("/api/traces/{trace_id}", ""), ("/api/sql", "?query=SELECT+count()+AS+n+FROM+ml_predictions"),
        ("/api/traces/{trace_id}", "?view=tree"), ("/api/overview", ""), ("/api/series", "?model=ranker"),
        ("/api/calls", "?model=ranker&order=slowest"), ("/api/hotspots/diff", "?model=ranker"), ("/api/ui", ""),
        ("/api/drift/features", "?model=ranker"),
    ):  # fmt: skip
        path = template.replace("{trace_id}", trace_id) + query
        status, body = loaded.get(path)
        assert status == 200, (path, body)
        schema = doc["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        validator = jsonschema.Draft202012Validator({"$ref": "urn:api#" + _pointer(template)}, registry=registry)
        errors = [e.message for e in validator.iter_errors(body)]
        assert errors == [], (path, errors[:3])
        assert schema  # the document names a schema for this answer
        checked += 1
    assert checked == 20
    # a wrong answer is caught: the schemas are not empty shells
    validator = jsonschema.Draft202012Validator({"$ref": "urn:api#" + _pointer("/api/models")}, registry=registry)
    assert not validator.is_valid({"models": [{"model": "m"}]})


def _pointer(template: str) -> str:
    escaped = template.replace("~", "~0").replace("/", "~1")
    return f"/paths/{escaped}/get/responses/200/content/application~1json/schema"


def test_rca_without_an_operation_takes_the_models_busiest_one(loaded):
    """A classifier served through predict_proba: the root-cause query without --operation looks
    at its predict_proba calls, not at a 'predict' that has none."""
    import time

    run_sdk(
        f"""
        import modeltrace
        modeltrace.configure(service_name="api-test", endpoint="{loaded.grpc_endpoint}", protocol="grpc")

        @modeltrace.trace_model(name="scorer", operation="predict_proba", profile_rate=0)
        def score(x):
            return x

        for i in range(12):
            score(float(i))
        """
    )
    loaded.wait_stored("ml_predictions", 12, "ModelName = 'scorer'")
    now = int(time.time())
    status, body = loaded.get(f"/api/rca?model=scorer&start={now - 3600}&end={now + 60}")
    assert status == 200, body
    assert body["operation"] == "predict_proba"
    status, body = loaded.get(f"/api/rca?model=scorer&start={now - 3600}&end={now + 60}&operation=predict")
    assert status == 200 and body["operation"] == "predict"

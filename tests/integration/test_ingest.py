"""Real clients into a real collector process; every span lands in ClickHouse (chDB)."""

import gzip
import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.integration.collector_proc import ROOT, CollectorProcess

pytestmark = pytest.mark.slow


def run_sdk(script: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = ROOT
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_modeltrace_sdk_spans_arrive_with_their_ml_rows(collector, protocol):
    endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
    run_sdk(
        f"""
        import numpy as np
        import modeltrace
        modeltrace.configure(service_name="risk-api", endpoint="{endpoint}", protocol="{protocol}",
                             resource_attributes={{"host.name": "web-7"}})

        @modeltrace.trace_model(name="risk", version="3", framework="numpy", feature_names=["a", "b"], profile_rate=1.0)
        def predict(x):
            with modeltrace.step("features"):
                pass
            return x[:, 0] * 2

        for i in range(20):
            predict(np.array([[float(i), 1.5]]))
        modeltrace.log_actual(modeltrace.current_prediction_id(), 38.0, model="risk", version="3")
        """
    )
    collector.wait_stored("otel_traces", 41)
    collector.wait_stored("ml_hotspots", 1)
    collector.wait_stored("ml_actuals", 1)
    assert collector.count("ml_predictions") == 20
    assert collector.count("ml_features") == 40
    assert collector.count("ml_hotspots") > 0
    row = collector.sql(
        "SELECT ServiceName, SpanName, SpanKind, StatusCode, ResourceAttributes['host.name'], "
        "SpanAttributes['ml.model.version'], ParentSpanId FROM modeltrace.otel_traces "
        "WHERE SpanName = 'predict risk' LIMIT 1"
    )[0]
    assert row == ["risk-api", "predict risk", "Internal", "Unset", "web-7", "3", ""]
    p = collector.sql(
        "SELECT ModelName, ModelVersion, Framework, InputRows, InputColumns, OutputRows, HostName, ProfileSampled "
        "FROM modeltrace.ml_predictions LIMIT 1"
    )[0]
    assert p == ["risk", "3", "numpy", 1, 2, 1, "web-7", True]
    values = collector.sql(
        "SELECT arraySort(groupArray(v)) FROM (SELECT arrayJoin(arrayFilter((v, f) -> f = 'a', NumValue, NumFeature)) "
        "AS v FROM modeltrace.ml_features WHERE Side = 'input')"
    )[0][0]
    assert values == [float(i) for i in range(20)]
    actual = collector.sql(
        "SELECT a.NumValue, p.InputRows FROM modeltrace.ml_actuals a "
        "JOIN modeltrace.ml_predictions p ON a.PredictionId = p.PredictionId"
    )
    assert actual == [[[38.0], 1]]
    step_parent = collector.sql(
        "SELECT count() FROM modeltrace.otel_traces s JOIN modeltrace.otel_traces p "
        "ON s.ParentSpanId = p.SpanId AND s.TraceId = p.TraceId WHERE s.SpanName = 'features'"
    )
    assert step_parent == [[20]]


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_stock_opentelemetry_exporters(collector, protocol):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=collector.grpc_endpoint, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=collector.http_endpoint + "/v1/traces")
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("shop", "1.2")
    for i in range(50):
        with tracer.start_as_current_span("POST /pay", kind=SpanKind.SERVER, attributes={"n": i, "ok": True}) as span:
            with tracer.start_as_current_span("db", kind=SpanKind.CLIENT):
                pass
            if i % 10 == 0:
                span.set_status(Status(StatusCode.ERROR, "declined"))
                span.add_event("retry", {"attempt": 2})
    provider.shutdown()
    collector.wait_stored("otel_traces", 100)
    assert collector.count("ml_predictions") == 0
    rows = collector.sql(
        "SELECT SpanKind, StatusCode, count(), any(ScopeName), any(ScopeVersion) FROM modeltrace.otel_traces "
        "GROUP BY SpanKind, StatusCode ORDER BY SpanKind, StatusCode"
    )
    assert rows == [
        ["Client", "Unset", 50, "shop", "1.2"],
        ["Server", "Error", 5, "shop", "1.2"],
        ["Server", "Unset", 45, "shop", "1.2"],
    ]
    ev = collector.sql(
        "SELECT Events.Name, Events.Attributes, SpanAttributes['n'], SpanAttributes['ok'], StatusMessage "
        "FROM modeltrace.otel_traces WHERE StatusCode = 'Error' ORDER BY toInt32(SpanAttributes['n']) LIMIT 1"
    )
    assert ev == [[["retry"], [{"attempt": "2"}], "0", "true", "declined"]]
    # the view's rows become visible on their own, a moment after the spans
    collector.wait_stored("otel_traces_trace_id_ts", 50)


def post(collector, body, content_type="application/json", encoding=None, path="/v1/traces"):
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    request = urllib.request.Request(collector.http_endpoint + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


TRACE_ID = "5b8efff798038103d269b633813fc60c"
JSON_BODY = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-client"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "hand"},
                    "spans": [
                        {
                            "traceId": TRACE_ID,
                            "spanId": "eee19b7ec3c1b174",
                            "name": "predict churn",
                            "kind": 2,
                            "startTimeUnixNano": "1732286551000000000",
                            "endTimeUnixNano": "1732286551250000000",
                            "attributes": [
                                {"key": "ml.model.name", "value": {"stringValue": "churn"}},
                                {"key": "ml.input.rows", "value": {"intValue": "4"}},
                                {"key": "ml.input.sample", "value": {"stringValue": '{"age": [31, null]}'}},
                            ],
                            "status": {"code": 2, "message": "boom"},
                        }
                    ],
                }
            ],
        }
    ]
}


def test_json_body_posted_by_hand(collector):
    status, headers, body = post(collector, json.dumps(JSON_BODY).encode())
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {}
    collector.wait_stored("ml_features", 1)
    row = collector.sql(
        "SELECT TraceId, SpanId, SpanKind, StatusCode, StatusMessage, Duration, ServiceName, "
        "toUnixTimestamp64Nano(Timestamp) FROM modeltrace.otel_traces"
    )[0]
    assert row == [
        TRACE_ID,
        "eee19b7ec3c1b174",
        "Server",
        "Error",
        "boom",
        250_000_000,
        "json-client",
        1732286551000000000,
    ]
    f = collector.sql(
        "SELECT NumFeature, NumValue, InputRows FROM modeltrace.ml_features JOIN modeltrace.ml_predictions USING SpanId"
    )
    assert f[0][0] == ["age", "age"] and f[0][1][0] == 31.0 and f[0][1][1] is None and f[0][2] == 4


def test_bad_requests_get_documented_statuses_and_store_nothing(collector):
    bad_proto = b"\x0a\xff\xff\xff\xff\x0f"
    cases = [
        (post(collector, bad_proto, "application/x-protobuf"), 400),
        (post(collector, b"{not json", "application/json"), 400),
        (post(collector, json.dumps({"resourceSpans": "nope"}).encode()), 400),
        (post(collector, b"<xml/>", "text/xml"), 415),
        (post(collector, b"\x1f\x8b\x08\x00garbage", "application/x-protobuf", "gzip"), 400),
        (post(collector, b"", "application/json", path="/v1/logs"), 404),
    ]
    for (status, _headers, body), expected in cases:
        assert status == expected, body
    # a protobuf error body is a google.rpc.Status
    from google.rpc import status_pb2

    st = status_pb2.Status()
    st.ParseFromString(post(collector, bad_proto, "application/x-protobuf")[2])
    assert st.code == 3 and "decode" in st.message
    # gRPC: malformed bytes are INVALID_ARGUMENT
    channel = grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}")
    export = channel.unary_unary(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        request_serializer=None,
        response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as info:
        export(bad_proto, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # an empty request is a success
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    assert (
        stub.Export(trace_service_pb2.ExportTraceServiceRequest(), timeout=10)
        == trace_service_pb2.ExportTraceServiceResponse()
    )
    # the collector still serves, and nothing from the bad requests was stored
    status, _, _ = post(collector, gzip.compress(json.dumps(JSON_BODY).encode()), "application/json", "gzip")
    assert status == 200
    collector.wait_stored("otel_traces", 1)
    assert collector.count("otel_traces") == 1
    channel.close()


def test_oversize_bodies_are_refused(tmp_path):
    proc = CollectorProcess(str(tmp_path / "c"), "receivers.max_request_bytes=2000").start()
    try:
        status, _, _ = post(proc, b"x" * 5000, "application/x-protobuf")
        assert status == 413
        status, _, _ = post(proc, gzip.compress(b"\x00" * 50_000), "application/x-protobuf", "gzip")
        assert status == 413
        channel = grpc.insecure_channel(f"127.0.0.1:{proc.grpc_port}")
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as info:
            export(b"\x0a\x00" * 3000, timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        channel.close()
        assert post(proc, json.dumps(JSON_BODY).encode())[0] == 200
    finally:
        proc.stop()


def test_invalid_span_ids_give_partial_success(collector):
    body = json.loads(json.dumps(JSON_BODY))
    spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append(dict(spans[0], spanId="abcd"))  # 2 bytes: invalid
    status, _, reply = post(collector, json.dumps(body).encode())
    assert status == 200
    assert json.loads(reply) == {
        "partialSuccess": {
            "rejectedSpans": "1",
            "errorMessage": "1 span(s) refused: 1 with an invalid trace or span id "
            "(a trace id is 16 bytes, a span id 8, neither all zero)",
        }
    }
    collector.wait_stored("otel_traces", 1)
    assert collector.count("otel_traces") == 1


def test_embedded_store_memory_cap(tmp_path):
    # User SQL gets at most half of a capped embedded store, shared by its connections: asked for
    # 4 GiB, each of the two queries may take 128 MiB of the 512, and one past that says so.
    proc = CollectorProcess(str(tmp_path / "c"), "storage.embedded_memory_mb=512", "api.sql_max_memory_mb=4096")
    proc.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            proc.post("/api/sql", {"query": "SELECT uniqExact(x) FROM system.one ARRAY JOIN range(100000000) AS x"})
        assert info.value.code == 422
        assert "cap of 128 MiB (api.sql_max_memory_mb)" in json.loads(info.value.read())["error"]
        assert post(proc, json.dumps(JSON_BODY).encode())[0] == 200
        proc.wait_stored("otel_traces", 1)
    finally:
        proc.stop()


def test_a_gzip_body_of_several_members_is_read_whole(collector):
    # RFC 1952 allows a gzip file of several members; gzip, Go and Python read them all.
    # One document split across two members: a reader that stops after the first sees half of it.
    body = json.dumps(JSON_BODY).encode()
    half = len(body) // 2
    status, _, _ = post(collector, gzip.compress(body[:half]) + gzip.compress(body[half:]), "application/json", "gzip")
    assert status == 200
    collector.wait_stored("otel_traces", 1)
    assert collector.sql("SELECT SpanId FROM modeltrace.otel_traces") == [["eee19b7ec3c1b174"]]

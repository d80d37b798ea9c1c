"""OTLP attribute types kept end to end: a span sent by the OpenTelemetry SDK's own OTLP
exporters (gRPC and HTTP) to a real collector comes back from the Jaeger v1 HTTP API and the
jaeger.storage.v2 gRPC API with the types it was sent with, while the exporter's columns of
``otel_traces`` hold the same strings as the Collector's ClickHouse exporter writes."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from modeltrace_collector.proto_gen.jaeger.storage.v2 import trace_storage_pb2, trace_storage_pb2_grpc
from tests.integration.collector_proc import CollectorProcess

pytestmark = pytest.mark.slow

T0 = 1_790_000_000_000_000_000  # ns
ATTRIBUTES = {"n": 7, "ratio": 0.5, "ok": True, "tags": ["a", "b"], "label": "7"}
# what the exporter's columns hold: the Collector's ClickHouse exporter's strings
STORED = {"n": "7", "ratio": "0.5", "ok": "true", "tags": '["a","b"]', "label": "7"}


def _send(collector: CollectorProcess, protocol: str, service: str) -> str:
    """One span through the SDK's exporter for ``protocol``; returns its trace id (hex)."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter: Any = OTLPSpanExporter(endpoint=f"127.0.0.1:{collector.grpc_port}", insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=collector.http_endpoint + "/v1/traces")
    provider = TracerProvider(resource=Resource.create({"service.name": service, "host.cpus": 8}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("typed-test").start_span("typed", start_time=T0, attributes=ATTRIBUTES)
    span.add_event("retry", {"attempt": 2}, timestamp=T0 + 1000)
    span.end(end_time=T0 + 5000)
    provider.shutdown()
    return format(span.get_span_context().trace_id, "032x")


@pytest.fixture(scope="module")
def sent(tmp_path_factory):
    collector = CollectorProcess(str(tmp_path_factory.mktemp("types")), "analysis.enabled=false").start()
    try:
        ids = {protocol: _send(collector, protocol, f"typed-{protocol}") for protocol in ("grpc", "http")}
        collector.wait_stored("otel_traces", 2)
        collector.wait_stored("otel_traces_trace_id_ts", 2)
        yield collector, ids
    finally:
        collector.stop()


PROTOCOLS = ["grpc", "http"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_exporter_columns_keep_their_strings(sent, protocol):
    collector, ids = sent
    rows = collector.sql(
        "SELECT SpanAttributes, ResourceAttributes['host.cpus'], Events.Attributes, AttributeTypes "
        "FROM modeltrace.otel_traces WHERE TraceId = {t:String}",
        t=ids[protocol],
    )
    assert rows == [
        [
            STORED,
            "8",
            [{"attempt": "2"}],
            {
                "span.n": "int",
                "span.ratio": "double",
                "span.ok": "bool",
                "span.tags": "array",
                "resource.host.cpus": "int",
                "event.0.attempt": "int",
            },
        ]
    ]


def _jaeger(collector: CollectorProcess, path: str) -> Any:
    with urllib.request.urlopen(collector.api + "/jaeger" + path, timeout=30) as r:
        return json.loads(r.read())


def _tags(tags: list[dict[str, Any]]) -> dict[str, tuple[str, Any]]:
    return {t["key"]: (t["type"], t["value"]) for t in tags}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_jaeger_http_api_gives_typed_tags(sent, protocol):
    collector, ids = sent
    [trace] = _jaeger(collector, f"/api/traces/{ids[protocol]}")["data"]
    [span] = trace["spans"]
    tags = _tags(span["tags"])
    assert {k: tags[k] for k in ATTRIBUTES} == {
        "n": ("int64", 7),
        "ratio": ("float64", 0.5),
        "ok": ("bool", True),
        "tags": ("string", '["a","b"]'),  # Jaeger's model has no arrays: JSON, as Jaeger's own translation
        "label": ("string", "7"),
    }
    assert type(tags["n"][1]) is int and type(tags["ratio"][1]) is float and type(tags["ok"][1]) is bool
    [process] = trace["processes"].values()
    assert _tags(process["tags"])["host.cpus"] == ("int64", 8)
    [log] = span["logs"]
    assert _tags(log["fields"]) == {"event": ("string", "retry"), "attempt": ("int64", 2)}


def _value(v: Any) -> tuple[str | None, Any]:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return kind, [_value(x) for x in v.array_value.values]
    return kind, getattr(v, kind) if kind else None


def _attrs(kvs: Any) -> dict[str, tuple[str | None, Any]]:
    return {kv.key: _value(kv.value) for kv in kvs}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_jaeger_grpc_storage_gives_typed_values(sent, protocol):
    collector, ids = sent
    with grpc.insecure_channel(f"127.0.0.1:{collector.jaeger_port}") as channel:
        reader = trace_storage_pb2_grpc.TraceReaderStub(channel)
        query = [trace_storage_pb2.GetTraceParams(trace_id=bytes.fromhex(ids[protocol]))]
        [chunk] = list(reader.GetTraces(trace_storage_pb2.GetTracesRequest(query=query)))
    [rs] = chunk.resource_spans
    [span] = rs.scope_spans[0].spans
    assert _attrs(span.attributes) == {
        "n": ("int_value", 7),
        "ratio": ("double_value", 0.5),
        "ok": ("bool_value", True),
        "tags": ("array_value", [("string_value", "a"), ("string_value", "b")]),
        "label": ("string_value", "7"),
    }
    assert _attrs(rs.resource.attributes)["host.cpus"] == ("int_value", 8)
    assert [_attrs(e.attributes) for e in span.events] == [{"attempt": ("int_value", 2)}]


def test_attribute_search_finds_typed_values(sent):
    collector, ids = sent
    start_us, end_us = (T0 - 10**9) // 1000, (T0 + 10**9) // 1000

    def http_search(**params: str) -> set[str]:
        query = urllib.parse.urlencode({"service": "typed-grpc", "start": start_us, "end": end_us, **params})
        return {t["traceID"] for t in _jaeger(collector, f"/api/traces?{query}")["data"]}

    found = {ids["grpc"]}
    assert http_search(tags=json.dumps({"n": 7})) == found
    assert http_search(tags=json.dumps({"ratio": 0.5, "ok": True})) == found
    assert http_search(tag="n:7") == found
    assert http_search(tags=json.dumps({"n": 8})) == set()
    window = {
        "start_time_min": Timestamp(seconds=T0 // 10**9 - 1),
        "start_time_max": Timestamp(seconds=T0 // 10**9 + 1),
    }
    kv, av = trace_storage_pb2.KeyValue, trace_storage_pb2.AnyValue
    with grpc.insecure_channel(f"127.0.0.1:{collector.jaeger_port}") as channel:
        reader = trace_storage_pb2_grpc.TraceReaderStub(channel)

        def grpc_search(**value: Any) -> set[str]:
            q = trace_storage_pb2.TraceQueryParameters(
                service_name="typed-grpc", attributes=[kv(key=k, value=av(**v)) for k, v in value.items()], **window
            )
            answer = reader.FindTraceIDs(trace_storage_pb2.FindTraceIDsRequest(query=q))
            return {t.trace_id.hex() for t in answer.trace_ids}

        assert grpc_search(n={"int_value": 7}) == found
        assert grpc_search(ratio={"double_value": 0.5}, ok={"bool_value": True}) == found
        assert grpc_search(n={"int_value": 8}) == set()

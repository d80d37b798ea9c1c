"""OTLP spans to otel_traces rows, written the way the Collector's ClickHouse exporter writes them."""

import base64
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1 import trace_pb2

from modeltrace_collector.pipeline.flatten import TRACE_COLUMNS, any_value_str, flatten


def test_attribute_values_are_stringified_like_the_exporter():
    cases = [
        (AnyValue(string_value="x"), "x"),
        (AnyValue(bool_value=True), "true"),
        (AnyValue(bool_value=False), "false"),
        (AnyValue(int_value=-42), "-42"),
        (AnyValue(double_value=1.5), "1.5"),
        (AnyValue(double_value=3.0), "3"),
        (AnyValue(bytes_value=b"\x00\xff"), base64.b64encode(b"\x00\xff").decode()),
        (AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="a"), AnyValue(int_value=1)])), '["a",1]'),
        (
            AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="k", value=AnyValue(bool_value=True))])),
            '{"k":true}',
        ),
        (AnyValue(), ""),
    ]
    for value, expected in cases:
        assert any_value_str(value) == expected


def test_span_row_columns():
    span = trace_pb2.Span(
        trace_id=bytes.fromhex("5b8efff798038103d269b633813fc60c"),
        span_id=bytes.fromhex("eee19b7ec3c1b174"),
        parent_span_id=bytes(8),  # all zero: a root
        trace_state="k=v",
        name="GET /score",
        kind=trace_pb2.Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=1_000,
        end_time_unix_nano=4_500,
        attributes=[KeyValue(key="http.status_code", value=AnyValue(int_value=200))],
        status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_OK, message=""),
        events=[trace_pb2.Span.Event(time_unix_nano=2_000, name="retry", attributes=[])],
        links=[trace_pb2.Span.Link(trace_id=bytes(range(16)), span_id=bytes(range(8)), trace_state="")],
    )
    request = ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource={"attributes": [KeyValue(key="service.name", value=AnyValue(string_value="api"))]},
                scope_spans=[trace_pb2.ScopeSpans(scope={"name": "http", "version": "2"}, spans=[span])],
            )
        ]
    )
    batch = flatten([request.SerializeToString()])
    row = dict(zip(TRACE_COLUMNS, (col[0] for col in batch.columns["otel_traces"])))
    assert row == {
        "Timestamp": 1_000,
        "TraceId": "5b8efff798038103d269b633813fc60c",
        "SpanId": "eee19b7ec3c1b174",
        "ParentSpanId": "",
        "TraceState": "k=v",
        "SpanName": "GET /score",
        "SpanKind": "Client",
        "ServiceName": "api",
        "ResourceAttributes": {"service.name": "api"},
        "ScopeName": "http",
        "ScopeVersion": "2",
        "SpanAttributes": {"http.status_code": "200"},
        "Duration": 3_500,
        "StatusCode": "Ok",
        "StatusMessage": "",
        "Events.Timestamp": [2_000],
        "Events.Name": ["retry"],
        "Events.Attributes": [{}],
        "Links.TraceId": [bytes(range(16)).hex()],
        "Links.SpanId": [bytes(range(8)).hex()],
        "Links.TraceState": [""],
        "Links.Attributes": [{}],
        "AttributeTypes": {"span.http.status_code": "int"},
    }
    assert batch.spans == 1


def _kv(key: str, **value: Any) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def test_attribute_types_are_recorded_for_every_value_that_is_not_a_string():
    array = ArrayValue(values=[AnyValue(string_value="a"), AnyValue(string_value="b")])
    kvlist = KeyValueList(values=[_kv("k", int_value=1)])
    span = trace_pb2.Span(
        trace_id=bytes(range(1, 17)),
        span_id=bytes(range(1, 9)),
        name="typed",
        attributes=[
            _kv("s", string_value="7"),
            _kv("n", int_value=7),
            _kv("ratio", double_value=0.5),
            _kv("ok", bool_value=True),
            _kv("raw", bytes_value=b"\x00\xff"),
            _kv("tags", array_value=array),
            _kv("map", kvlist_value=kvlist),
            _kv("unset"),
        ],
        events=[
            trace_pb2.Span.Event(name="plain", attributes=[_kv("s", string_value="x")]),
            trace_pb2.Span.Event(name="retry", attributes=[_kv("attempt", int_value=2), _kv("s", string_value="x")]),
        ],
        links=[
            trace_pb2.Span.Link(
                trace_id=bytes(range(16)), span_id=bytes(range(8)), attributes=[_kv("w", double_value=2.0)]
            )
        ],
    )
    untyped = trace_pb2.Span(trace_id=bytes(range(1, 17)), span_id=bytes(range(2, 10)), name="strings only")
    request = ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource={"attributes": [_kv("service.name", string_value="api"), _kv("process.pid", int_value=42)]},
                scope_spans=[trace_pb2.ScopeSpans(spans=[span, untyped])],
            ),
            trace_pb2.ResourceSpans(
                resource={"attributes": [_kv("service.name", string_value="api")]},
                scope_spans=[trace_pb2.ScopeSpans(spans=[untyped])],
            ),
        ]
    )
    rows = [dict(zip(TRACE_COLUMNS, row)) for row in zip(*flatten([request]).columns["otel_traces"])]
    # the exporter's columns hold the strings they always held
    assert rows[0]["SpanAttributes"] == {
        "s": "7", "n": "7", "ratio": "0.5", "ok": "true", "raw": "AP8=", "tags": '["a","b"]', "map": '{"k":1}',
        "unset": "",
    }  # fmt: skip
    assert rows[0]["ResourceAttributes"] == {"service.name": "api", "process.pid": "42"}
    assert rows[0]["Events.Attributes"] == [{"s": "x"}, {"attempt": "2", "s": "x"}]
    assert rows[0]["Links.Attributes"] == [{"w": "2"}]
    # and the types of the others, by map
    assert rows[0]["AttributeTypes"] == {
        "resource.process.pid": "int",
        "span.n": "int",
        "span.ratio": "double",
        "span.ok": "bool",
        "span.raw": "bytes",
        "span.tags": "array",
        "span.map": "kvlist",
        "event.1.attempt": "int",
        "link.0.w": "double",
    }
    assert rows[1]["AttributeTypes"] == {"resource.process.pid": "int"}  # the resource's, on each of its spans
    assert rows[2]["AttributeTypes"] == {}

"""OTLP spans to otel_traces rows, written the way the Collector's ClickHouse exporter writes them."""

import base64

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
    }
    assert batch.spans == 1

"""Attribute types kept end to end: the OTLP type of each attribute that is not a string goes to
``AttributeTypes`` when a span is stored, and the trace reader (both Jaeger APIs, the UI) gives
the values back with it. Rows without types (the Collector's ClickHouse exporter writes none)
read as before: the ``ml.*`` ints and bools and a few well-known keys typed by name, the rest
as strings."""

from __future__ import annotations

import math
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1 import trace_pb2

from modeltrace_collector.jaeger.http_api import jaeger_trace
from modeltrace_collector.pipeline.flatten import TABLES, flatten
from modeltrace_collector.query.traces import TraceReader, any_value, traces_data, typed_attributes
from modeltrace_collector.storage.schema import CONTRIB_TRACE_COLUMNS, TRACE_COLUMNS

T0 = 1_790_000_000_000_000_000
TRACE_ID = bytes(range(1, 17))


def _kv(key: str, **value: Any) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def _plain(v: AnyValue) -> Any:
    """An AnyValue as (kind, Python value), arrays and kvlists included."""
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return kind, [_plain(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return kind, {kv.key: _plain(kv.value) for kv in v.kvlist_value.values}
    return kind, getattr(v, kind) if kind else None


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _plain(kv.value) for kv in kvs}


def test_typed_attributes_decodes_each_recorded_type():
    values = {
        "s": "7", "n": "-7", "big": "9223372036854775807", "ratio": "0.5", "whole": "3", "nan": "nan",
        "ok": "true", "no": "false", "raw": "AP8=", "tags": '["a",1,1.5,true,null,["x"]]', "map": '{"k":{"j":1}}',
        "ml.input.rows": "3",
    }  # fmt: skip
    types = {
        "span.n": "int", "span.big": "int", "span.ratio": "double", "span.whole": "double", "span.nan": "double",
        "span.ok": "bool", "span.no": "bool", "span.raw": "bytes", "span.tags": "array", "span.map": "kvlist",
        "resource.s": "int",
    }  # fmt: skip
    got = typed_attributes(values, types)
    nan = got.pop("nan")
    assert isinstance(nan, float) and math.isnan(nan)
    assert got == {
        "s": "7",  # no type recorded for the span's "s" (the resource's does not count): a string
        "n": -7, "big": 2**63 - 1, "ratio": 0.5, "whole": 3.0, "ok": True, "no": False, "raw": b"\x00\xff",
        "tags": ["a", 1, 1.5, True, None, ["x"]], "map": {"k": {"j": 1}},
        "ml.input.rows": "3",  # a row with types: what has none recorded is a string
    }  # fmt: skip
    assert [type(got[k]) for k in ("n", "whole", "ok")] == [int, float, bool]
    # the scope picks the map's entries
    assert typed_attributes({"s": "7"}, types, "resource") == {"s": 7}
    assert typed_attributes({"attempt": "2"}, {"event.1.attempt": "int"}, "event.1") == {"attempt": 2}
    assert typed_attributes({"attempt": "2"}, {"event.1.attempt": "int"}, "event.0") == {"attempt": "2"}


def test_typed_attributes_without_types_keeps_the_known_types_by_name():
    values = {"ml.input.rows": "3", "ml.profile.sampled": "true", "http.status_code": "200", "n": "7", "r": "0.5"}
    assert typed_attributes(values, {}) == {
        "ml.input.rows": 3,
        "ml.profile.sampled": True,
        "http.status_code": 200,
        "n": "7",
        "r": "0.5",
    }


def test_a_value_that_does_not_read_as_its_type_stays_a_string():
    values = {"n": "seven", "ok": "yes", "raw": "not base64!", "tags": '{"a":1}', "map": "[1]", "x": "1", "j": "[1"}
    declared = {"n": "int", "ok": "bool", "raw": "bytes", "tags": "array", "map": "kvlist", "x": "future", "j": "array"}
    types = {f"span.{k}": t for k, t in declared.items()}
    assert typed_attributes(values, types) == values


def test_any_value_gives_otlp_values():
    assert _plain(any_value(["a", 1, 2.5, False, None, {"k": b"\x01"}])) == (
        "array_value",
        [
            ("string_value", "a"),
            ("int_value", 1),
            ("double_value", 2.5),
            ("bool_value", False),
            (None, None),
            ("kvlist_value", {"k": ("bytes_value", b"\x01")}),
        ],
    )
    assert _plain(any_value(2**64)) == ("string_value", str(2**64))  # beyond int64


def _typed_span_request() -> ExportTraceServiceRequest:
    span = trace_pb2.Span(
        trace_id=TRACE_ID,
        span_id=bytes(range(1, 9)),
        name="predict m",
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + 1000,
        attributes=[
            _kv("n", int_value=7),
            _kv("ratio", double_value=0.5),
            _kv("whole", double_value=2.0),
            _kv("ok", bool_value=True),
            _kv("tags", array_value=ArrayValue(values=[AnyValue(string_value="a"), AnyValue(string_value="b")])),
            _kv("map", kvlist_value=KeyValueList(values=[_kv("k", int_value=1)])),
            _kv("raw", bytes_value=b"\x00\xff"),
            _kv("s", string_value="7"),
            _kv("ml.input.rows", int_value=3),
        ],
        events=[trace_pb2.Span.Event(time_unix_nano=T0 + 10, name="retry", attributes=[_kv("attempt", int_value=2)])],
        links=[
            trace_pb2.Span.Link(trace_id=bytes(16), span_id=bytes(range(8)), attributes=[_kv("w", double_value=0.25)])
        ],
    )
    resource = {"attributes": [_kv("service.name", string_value="svc"), _kv("process.pid", int_value=42)]}
    return ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(resource=resource, scope_spans=[trace_pb2.ScopeSpans(spans=[span])])]
    )


def _read_back(store: Any) -> Any:
    rows, _ = TraceReader(store).spans([TRACE_ID.hex()])
    return traces_data(rows[TRACE_ID.hex()])


def test_stored_spans_come_back_with_their_types(store):
    batch = flatten([_typed_span_request()])
    store.insert("otel_traces", batch.columns["otel_traces"], TABLES["otel_traces"], "typed")
    data = _read_back(store)
    [rs] = data.resource_spans
    [sp] = rs.scope_spans[0].spans
    assert _attrs(rs.resource.attributes) == {
        "service.name": ("string_value", "svc"),
        "process.pid": ("int_value", 42),
    }
    assert _attrs(sp.attributes) == {
        "n": ("int_value", 7),
        "ratio": ("double_value", 0.5),
        "whole": ("double_value", 2.0),
        "ok": ("bool_value", True),
        "tags": ("array_value", [("string_value", "a"), ("string_value", "b")]),
        "map": ("kvlist_value", {"k": ("int_value", 1)}),
        "raw": ("bytes_value", b"\x00\xff"),
        "s": ("string_value", "7"),
        "ml.input.rows": ("int_value", 3),
    }
    assert [_attrs(e.attributes) for e in sp.events] == [{"attempt": ("int_value", 2)}]
    assert [_attrs(link.attributes) for link in sp.links] == [{"w": ("double_value", 0.25)}]
    # in Jaeger's JSON model: its tag types; arrays and kvlists as JSON strings (as Jaeger's own
    # OTLP translation gives them), bytes as base64 binary
    trace = jaeger_trace(data)
    [span] = trace["spans"]
    tags = {t["key"]: (t["type"], t["value"]) for t in span["tags"]}
    assert {k: tags[k] for k in ("n", "ratio", "whole", "ok", "tags", "map", "raw", "s")} == {
        "n": ("int64", 7),
        "ratio": ("float64", 0.5),
        "whole": ("float64", 2.0),
        "ok": ("bool", True),
        "tags": ("string", '["a","b"]'),
        "map": ("string", '{"k":1}'),
        "raw": ("binary", "AP8="),
        "s": ("string", "7"),
    }
    [process] = trace["processes"].values()
    assert {t["key"]: (t["type"], t["value"]) for t in process["tags"]} == {"process.pid": ("int64", 42)}
    assert [{f["key"]: (f["type"], f["value"]) for f in log["fields"]} for log in span["logs"]] == [
        {"event": ("string", "retry"), "attempt": ("int64", 2)}
    ]


def test_a_row_without_types_reads_back_as_before(store):
    """The exporter's own insert (its columns only) into the same table."""
    batch = flatten([_typed_span_request()])
    contrib = batch.columns["otel_traces"][: len(CONTRIB_TRACE_COLUMNS)]
    assert TRACE_COLUMNS[: len(CONTRIB_TRACE_COLUMNS)] == CONTRIB_TRACE_COLUMNS
    store.insert("otel_traces", contrib, CONTRIB_TRACE_COLUMNS, "contrib")
    [row] = store.query(f"SELECT AttributeTypes FROM {store.database}.otel_traces").result_rows
    assert row == ({},)
    data = _read_back(store)
    [rs] = data.resource_spans
    [sp] = rs.scope_spans[0].spans
    assert _attrs(rs.resource.attributes) == {
        "service.name": ("string_value", "svc"),
        "process.pid": ("int_value", 42),  # a well-known int
    }
    assert _attrs(sp.attributes) == {
        "n": ("string_value", "7"),
        "ratio": ("string_value", "0.5"),
        "whole": ("string_value", "2"),
        "ok": ("string_value", "true"),
        "tags": ("string_value", '["a","b"]'),
        "map": ("string_value", '{"k":1}'),
        "raw": ("string_value", "AP8="),
        "s": ("string_value", "7"),
        "ml.input.rows": ("int_value", 3),  # the ml.* contract's ints
    }
    assert [_attrs(e.attributes) for e in sp.events] == [{"attempt": ("string_value", "2")}]


def test_attribute_search_finds_typed_values(store):
    from modeltrace_collector.query.traces import TraceQuery

    batch = flatten([_typed_span_request()])
    store.insert("otel_traces", batch.columns["otel_traces"], TABLES["otel_traces"], "typed-search")
    reader = TraceReader(store)

    def found(**attributes: str) -> bool:
        return bool(reader.find_trace_ids(TraceQuery(service="svc", attributes=attributes)))

    assert found(n="7") and found(ratio="0.5") and found(whole="2") and found(ok="true")
    assert found(tags='["a","b"]') and found(**{"process.pid": "42"})
    assert not found(n="8") and not found(ok="false")

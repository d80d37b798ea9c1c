"""The storage client hands values to ClickHouse and back unchanged, on every engine the tests
run on (the product's clickhouse-connect client on 26.x, the adapter in tests/engines on 24.8)."""

import datetime as dt
import math

from modeltrace_collector.storage.schema import TRACE_COLUMNS

AWKWARD = "it's a \\ back\tslash\nand a 'quote' €"


def test_query_parameters_arrive_exactly(store):
    row = store.query(
        "SELECT {s:String}, {a:Array(String)}, {f:Array(Float64)}, {n:Int64}, {t:DateTime64(3)}, {z:Nullable(String)}",
        {
            "s": AWKWARD,
            "a": [AWKWARD, ""],
            "f": [0.1, -0.0, math.inf, 1e-300],
            "n": -(2**62),
            "t": dt.datetime(2026, 3, 4, 5, 6, 7, 890_000),
            "z": None,
        },
    ).result_rows[0]
    assert row == (
        AWKWARD,
        [AWKWARD, ""],
        [0.1, -0.0, math.inf, 1e-300],
        -(2**62),
        dt.datetime(2026, 3, 4, 5, 6, 7, 890_000),
        None,
    )


def test_inserted_rows_read_back_as_written(store):
    span = {
        "Timestamp": dt.datetime(2026, 3, 4, 5, 6, 7, 123_456),
        "TraceId": "ab" * 16,
        "SpanId": "cd" * 8,
        "ParentSpanId": "",
        "TraceState": "",
        "SpanName": "predict m",
        "SpanKind": "Internal",
        "ServiceName": "svc",
        "ResourceAttributes": {"host.name": AWKWARD},
        "ScopeName": "modeltrace",
        "ScopeVersion": "1",
        "SpanAttributes": {"ml.model.name": "m", "ml.input.sample": '{"x": [1.5, null]}'},
        "Duration": 2**40,
        "StatusCode": "Error",
        "StatusMessage": AWKWARD,
        "Events.Timestamp": [dt.datetime(2026, 3, 4, 5, 6, 7, 999_999)],
        "Events.Name": ["exception"],
        "Events.Attributes": [{"exception.type": "ValueError"}],
        "Links.TraceId": [],
        "Links.SpanId": [],
        "Links.TraceState": [],
        "Links.Attributes": [],
        "AttributeTypes": {"span.ml.input.rows": "int", "resource.process.pid": "int", "event.0.attempt": "int"},
    }
    assert tuple(span) == TRACE_COLUMNS
    store.insert("otel_traces", [[v] for v in span.values()], TRACE_COLUMNS, token="one-span")
    names = ", ".join(f"`{c}`" for c in TRACE_COLUMNS)
    [row] = store.query(f"SELECT {names} FROM {store.database}.otel_traces").result_rows
    assert dict(zip(TRACE_COLUMNS, row)) == span
    # and what the views derived from it, typed
    features = store.query(f"SELECT NumFeature, NumRow, NumValue FROM {store.database}.ml_features").result_rows
    assert features[0][:2] == (["x", "x"], [0, 1]) and features[0][2][0] == 1.5 and math.isnan(features[0][2][1])

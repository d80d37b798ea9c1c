"""Jaeger against a real collector: the jaeger.storage.v2 gRPC API (with a client generated
from the same protos) and the Jaeger v1 HTTP API under /jaeger, over spans sent with the
OpenTelemetry SDK's own OTLP/gRPC exporter. Every answer is compared with what was sent."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, set_span_in_context

from modeltrace_collector.proto_gen.jaeger.storage.v2 import (
    dependency_storage_pb2,
    dependency_storage_pb2_grpc,
    trace_storage_pb2,
    trace_storage_pb2_grpc,
)
from tests.integration.collector_proc import CollectorProcess

T0 = 1_790_000_000_000_000_000  # ns
MS = 1_000_000
MAX_SPANS = 1500  # jaeger.max_trace_spans for this collector


def send_traces(endpoint: str) -> list[Any]:
    """Known traces through the SDK's OTLP/gRPC exporter; returns the spans as the SDK made them.

    * 6 request traces: frontend ``GET /score`` (server) -> ``call scorer`` (client) ->
      scorer ``predict fraud`` (server, typed ml.* attributes) -> ``fetch_features`` (internal);
      request i takes 20 + 10 i ms, request 4 fails with an exception event;
    * one trace of 2500 spans from a batch job (more than MAX_SPANS);
    * a feedback span linking to request 0's predict span.
    """
    memory = InMemorySpanExporter()
    providers = {}
    for service, host in (("frontend", "web-1"), ("scorer", "gpu-2"), ("batch", "cron-1")):
        p = TracerProvider(resource=Resource.create({"service.name": service, "host.name": host}))
        p.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
        p.add_span_processor(SimpleSpanProcessor(memory))
        providers[service] = p
    fe = providers["frontend"].get_tracer("web", "1.2")
    sc = providers["scorer"].get_tracer("modeltrace", "0.4")
    predict_spans = []
    for i in range(6):
        start = T0 + i * 1000 * MS
        dur = (20 + 10 * i) * MS
        root = fe.start_span("GET /score", kind=SpanKind.SERVER, start_time=start, attributes={"http.route": "/score"})
        ctx = set_span_in_context(root)
        call = fe.start_span("call scorer", context=ctx, kind=SpanKind.CLIENT, start_time=start + MS)
        pred = sc.start_span(
            "predict fraud",
            context=set_span_in_context(call),
            kind=SpanKind.SERVER,
            start_time=start + 2 * MS,
            attributes={
                "ml.model.name": "fraud",
                "ml.model.version": "3" if i < 3 else "4",
                "ml.input.rows": 8 * (i + 1),
                "ml.profile.sampled": i % 2 == 0,
                "tenant": f"t{i % 2}",
            },
        )
        step = sc.start_span("fetch_features", context=set_span_in_context(pred), start_time=start + 3 * MS)
        step.end(end_time=start + 5 * MS)
        if i == 4:
            pred.add_event(
                "exception", {"exception.type": "TimeoutError", "exception.message": "feature store"}, start + 6 * MS
            )
            pred.set_status(Status(StatusCode.ERROR, "feature store timed out"))
        pred.end(end_time=start + dur - 2 * MS)
        call.end(end_time=start + dur - MS)
        root.end(end_time=start + dur)
        predict_spans.append(pred)
    batch = providers["batch"].get_tracer("job")
    job_start = T0 + 10_000 * MS
    job = batch.start_span("nightly scoring", start_time=job_start)
    for k in range(2499):
        child = batch.start_span("score row", context=set_span_in_context(job), start_time=job_start + k * 1000)
        child.end(end_time=job_start + k * 1000 + 500)
    job.end(end_time=job_start + 3000 * MS)
    fb = sc.start_span(
        "feedback fraud",
        start_time=T0 + 20_000 * MS,
        links=[Link(predict_spans[0].get_span_context())],
        attributes={"ml.actual": "[1]"},
    )
    fb.end(end_time=T0 + 20_000 * MS + 1000)
    for p in providers.values():
        p.shutdown()
    return list(memory.get_finished_spans())


@pytest.fixture(scope="module")
def jaeger_env(tmp_path_factory):
    collector = CollectorProcess(
        str(tmp_path_factory.mktemp("jaeger")), f"jaeger.max_trace_spans={MAX_SPANS}", "analysis.enabled=false"
    ).start()
    try:
        sent = send_traces(f"127.0.0.1:{collector.grpc_port}")
        collector.wait_stored("otel_traces", len(sent))
        # the readers find traces through the view's table, whose rows land a moment later
        collector.wait_stored("otel_traces_trace_id_ts", len({s.context.trace_id for s in sent}))
        channel = grpc.insecure_channel(f"127.0.0.1:{collector.jaeger_port}")
        yield collector, sent, channel
        channel.close()
    finally:
        collector.stop()


def ts(ns: int) -> Timestamp:
    return Timestamp(seconds=ns // 10**9, nanos=ns % 10**9)


def traces_of(sent: list[Any], name: str) -> dict[str, list[Any]]:
    """trace id (hex) -> its spans, for the traces with a span called ``name``."""
    ids = {format(s.context.trace_id, "032x") for s in sent if s.name == name}
    out: dict[str, list[Any]] = {}
    for s in sent:
        tid = format(s.context.trace_id, "032x")
        if tid in ids:
            out.setdefault(tid, []).append(s)
    return out


def otlp_spans(chunks: list[Any]) -> list[tuple[Any, Any, Any]]:
    """(resource, scope, span) of every span in streamed TracesData chunks."""
    return [
        (rs.resource, ss.scope, sp)
        for c in chunks
        for rs in c.resource_spans
        for ss in rs.scope_spans
        for sp in ss.spans
    ]


def attr(kvs: Any, key: str) -> Any:
    for kv in kvs:
        if kv.key == key:
            return getattr(kv.value, kv.value.WhichOneof("value"))
    raise KeyError(key)


# -- gRPC: jaeger.storage.v2 -------------------------------------------------------------


def test_get_traces_returns_each_span_as_sent(jaeger_env):
    _, sent, channel = jaeger_env
    reader = trace_storage_pb2_grpc.TraceReaderStub(channel)
    requests = traces_of(sent, "predict fraud")
    for tid, spans in requests.items():
        chunks = list(
            reader.GetTraces(
                trace_storage_pb2.GetTracesRequest(
                    query=[trace_storage_pb2.GetTraceParams(trace_id=bytes.fromhex(tid))]
                )
            )
        )
        assert len(chunks) == 1
        got = {sp.span_id.hex(): (res, scope, sp) for res, scope, sp in otlp_spans(chunks)}
        assert set(got) == {format(s.context.span_id, "016x") for s in spans}
        for s in spans:
            res, scope, sp = got[format(s.context.span_id, "016x")]
            assert sp.trace_id.hex() == tid
            assert sp.name == s.name
            assert sp.parent_span_id.hex() == (format(s.parent.span_id, "016x") if s.parent else "")
            assert sp.kind == s.kind.value + 1  # OTLP's enum counts UNSPECIFIED first
            assert (sp.start_time_unix_nano, sp.end_time_unix_nano) == (s.start_time, s.end_time)
            assert {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in sp.attributes} == dict(
                s.attributes
            )
            assert attr(res.attributes, "service.name") == s.resource.attributes["service.name"]
            assert attr(res.attributes, "host.name") == s.resource.attributes["host.name"]
            assert (scope.name, scope.version) == (s.instrumentation_scope.name, s.instrumentation_scope.version)
            assert sp.status.code == {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}[s.status.status_code]
            assert sp.status.message == (s.status.description or "")
            assert [
                (e.name, e.time_unix_nano, {kv.key: kv.value.string_value for kv in e.attributes}) for e in sp.events
            ] == [(e.name, e.timestamp, dict(e.attributes)) for e in s.events]
    # typed attributes of the ml.* contract come back typed
    pred = next(sp for c in chunks for _, _, sp in otlp_spans([c]) if sp.name == "predict fraud")
    assert (
        pred.attributes[[kv.key for kv in pred.attributes].index("ml.input.rows")].value.WhichOneof("value")
        == "int_value"
    )


def test_get_traces_time_hints_unknown_ids_links_and_chunks(jaeger_env):
    _, sent, channel = jaeger_env
    reader = trace_storage_pb2_grpc.TraceReaderStub(channel)
    first = next(iter(traces_of(sent, "predict fraud")))
    job = next(iter(traces_of(sent, "nightly scoring")))
    feedback = next(iter(traces_of(sent, "feedback fraud")))
    start = min(s.start_time for s in sent if format(s.context.trace_id, "032x") == first)
    query = [
        trace_storage_pb2.GetTraceParams(
            trace_id=bytes.fromhex(first), start_time=ts(start - MS), end_time=ts(start + 100 * MS)
        ),
        trace_storage_pb2.GetTraceParams(trace_id=bytes(16)),  # unknown: skipped
        trace_storage_pb2.GetTraceParams(trace_id=bytes.fromhex(job)),
        trace_storage_pb2.GetTraceParams(trace_id=bytes.fromhex(feedback)),
    ]
    chunks = list(reader.GetTraces(trace_storage_pb2.GetTracesRequest(query=query)))
    per_chunk = [{sp.trace_id.hex() for _, _, sp in otlp_spans([c])} for c in chunks]
    assert all(len(ids) == 1 for ids in per_chunk)  # one trace per chunk, never empty
    order = [ids.pop() for ids in per_chunk]
    assert order[0] == first and order[-1] == feedback
    # the 2500-span job comes capped at MAX_SPANS, in consecutive chunks of at most 1000
    job_chunks = [c for c, t in zip(chunks, order) if t == job]
    assert [len(otlp_spans([c])) for c in job_chunks] == [1000, 500]
    warnings = [kv for _, _, sp in otlp_spans(job_chunks) for kv in sp.attributes if kv.key == "@jaeger@warnings"]
    assert len(warnings) == 1 and "2500 spans" in warnings[0].value.array_value.values[0].string_value
    # a time hint that misses the trace finds nothing
    miss = trace_storage_pb2.GetTraceParams(
        trace_id=bytes.fromhex(first), start_time=ts(T0 - 10**12), end_time=ts(T0 - 10**11)
    )
    assert list(reader.GetTraces(trace_storage_pb2.GetTracesRequest(query=[miss]))) == []
    # the feedback span's link to the prediction survives
    [(_, _, fb)] = otlp_spans([chunks[-1]])
    pred0 = next(s for s in sent if s.name == "predict fraud" and format(s.context.trace_id, "032x") == first)
    assert [(link.trace_id.hex(), link.span_id.hex()) for link in fb.links] == [
        (first, format(pred0.context.span_id, "016x"))
    ]
    with pytest.raises(grpc.RpcError) as bad:
        list(
            reader.GetTraces(
                trace_storage_pb2.GetTracesRequest(query=[trace_storage_pb2.GetTraceParams(trace_id=b"abc")])
            )
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_services_and_operations(jaeger_env):
    _, sent, channel = jaeger_env
    reader = trace_storage_pb2_grpc.TraceReaderStub(channel)
    assert list(reader.GetServices(trace_storage_pb2.GetServicesRequest()).services) == ["batch", "frontend", "scorer"]
    ops = reader.GetOperations(trace_storage_pb2.GetOperationsRequest(service="scorer")).operations
    expected = sorted(
        {(s.name, s.kind.name.lower()) for s in sent if s.resource.attributes["service.name"] == "scorer"}
    )
    assert sorted((o.name, o.span_kind) for o in ops) == expected
    servers = reader.GetOperations(
        trace_storage_pb2.GetOperationsRequest(service="scorer", span_kind="server")
    ).operations
    assert [(o.name, o.span_kind) for o in servers] == [("predict fraud", "server")]
    assert list(reader.GetOperations(trace_storage_pb2.GetOperationsRequest(service="nobody")).operations) == []
    with pytest.raises(grpc.RpcError) as bad:
        reader.GetOperations(trace_storage_pb2.GetOperationsRequest())
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _expected_ids(sent: list[Any], predicate: Any) -> set[str]:
    return {format(s.context.trace_id, "032x") for s in sent if predicate(s)}


def test_find_trace_ids_and_find_traces_filter_like_jaeger(jaeger_env):
    _, sent, channel = jaeger_env
    reader = trace_storage_pb2_grpc.TraceReaderStub(channel)

    def find(**kw: Any) -> set[str]:
        q = trace_storage_pb2.TraceQueryParameters(**kw)
        return {t.trace_id.hex() for t in reader.FindTraceIDs(trace_storage_pb2.FindTraceIDsRequest(query=q)).trace_ids}

    window = {"start_time_min": ts(T0 - 10**9), "start_time_max": ts(T0 + 60 * 10**9)}
    scorer = lambda s: s.resource.attributes["service.name"] == "scorer"  # noqa: E731
    assert find(service_name="scorer", search_depth=100, **window) == _expected_ids(sent, scorer)
    assert find(service_name="scorer", operation_name="predict fraud", **window) == _expected_ids(
        sent, lambda s: s.name == "predict fraud"
    )
    # attributes: a string, an int (stored as a string, matched as one), the error status
    kv = trace_storage_pb2.KeyValue
    av = trace_storage_pb2.AnyValue
    assert find(
        service_name="scorer", attributes=[kv(key="tenant", value=av(string_value="t1"))], **window
    ) == _expected_ids(sent, lambda s: s.attributes.get("tenant") == "t1")
    assert find(
        service_name="scorer", attributes=[kv(key="ml.input.rows", value=av(int_value=16))], **window
    ) == _expected_ids(sent, lambda s: s.attributes.get("ml.input.rows") == 16)
    assert find(
        service_name="scorer", attributes=[kv(key="error", value=av(bool_value=True))], **window
    ) == _expected_ids(sent, lambda s: s.status.status_code == StatusCode.ERROR)
    # a resource attribute matches too
    assert find(
        service_name="scorer", attributes=[kv(key="host.name", value=av(string_value="gpu-2"))], **window
    ) == _expected_ids(sent, scorer)
    # durations: the predict spans of requests 2..4 last 22..42 ms
    dur = {"duration_min": Duration(nanos=30 * MS), "duration_max": Duration(nanos=50 * MS)}
    assert find(service_name="scorer", operation_name="predict fraud", **dur, **window) == _expected_ids(
        sent, lambda s: s.name == "predict fraud" and 30 * MS <= s.end_time - s.start_time <= 50 * MS
    )
    # time range: only the first two requests
    early = {"start_time_min": ts(T0), "start_time_max": ts(T0 + 1500 * MS)}
    assert find(service_name="frontend", **early) == _expected_ids(
        sent, lambda s: s.name == "GET /score" and s.start_time <= T0 + 1500 * MS
    )
    # limit: the newest traces first
    newest = find(service_name="frontend", search_depth=2, **window)
    roots = sorted((s for s in sent if s.name == "GET /score"), key=lambda s: -s.end_time)
    assert newest == {format(s.context.trace_id, "032x") for s in roots[:2]}
    # pages: page_size traces each, newest first, until a short page without a token
    pages, token = [], ""
    while True:
        q = trace_storage_pb2.TraceQueryParameters(
            service_name="frontend", pagination=trace_storage_pb2.Pagination(page_size=4, page_token=token), **window
        )
        answer = reader.FindTraceIDs(trace_storage_pb2.FindTraceIDsRequest(query=q))
        pages.append([t.trace_id.hex() for t in answer.trace_ids])
        token = answer.next_page_token
        if not token:
            break
    assert [len(p) for p in pages] == [4, 2]
    assert [t for p in pages for t in p] == [format(s.context.trace_id, "032x") for s in roots]
    with pytest.raises(grpc.RpcError) as bad:
        q = trace_storage_pb2.TraceQueryParameters(service_name="frontend", pagination={"page_token": "%%"})
        reader.FindTraceIDs(trace_storage_pb2.FindTraceIDsRequest(query=q))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # FindTraces streams the same traces, whole
    q = trace_storage_pb2.TraceQueryParameters(
        service_name="scorer", operation_name="predict fraud", search_depth=3, **window
    )
    chunks = list(reader.FindTraces(trace_storage_pb2.FindTracesRequest(query=q)))
    by_trace: dict[str, int] = {}
    for c in chunks:
        [tid] = {sp.trace_id.hex() for _, _, sp in otlp_spans([c])}
        by_trace[tid] = by_trace.get(tid, 0) + len(otlp_spans([c]))
    assert len(by_trace) == 3 and all(n == 4 for n in by_trace.values())  # whole traces
    # the hints FindTraceIDs returns cover where the whole trace starts, and fetch all of it
    found = reader.FindTraceIDs(trace_storage_pb2.FindTraceIDsRequest(query=q)).trace_ids
    assert {t.trace_id.hex() for t in found} == set(by_trace)
    for t in found:
        spans = [s for s in sent if format(s.context.trace_id, "032x") == t.trace_id.hex()]
        assert (
            t.start.ToNanoseconds()
            <= min(s.start_time for s in spans)
            <= max(s.start_time for s in spans)
            <= t.end.ToNanoseconds()
        )
        params = trace_storage_pb2.GetTraceParams(trace_id=t.trace_id, start_time=t.start, end_time=t.end)
        got = list(reader.GetTraces(trace_storage_pb2.GetTracesRequest(query=[params])))
        assert len(otlp_spans(got)) == len(spans)


def test_dependencies_and_unimplemented_summaries(jaeger_env):
    _, sent, channel = jaeger_env
    deps = dependency_storage_pb2_grpc.DependencyReaderStub(channel).GetDependencies(
        dependency_storage_pb2.GetDependenciesRequest(start_time=ts(T0 - 10**9), end_time=ts(T0 + 60 * 10**9))
    )
    by_id = {s.context.span_id: s for s in sent}
    expected: dict[tuple[str, str], int] = {}
    for s in sent:
        parent = by_id.get(s.parent.span_id) if s.parent else None
        if parent is not None and parent.resource.attributes["service.name"] != s.resource.attributes["service.name"]:
            key = (parent.resource.attributes["service.name"], s.resource.attributes["service.name"])
            expected[key] = expected.get(key, 0) + 1
    assert {(d.parent, d.child): d.call_count for d in deps.dependencies} == expected == {("frontend", "scorer"): 6}
    reader = trace_storage_pb2_grpc.TraceReaderStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        list(reader.FindTraceSummaries(trace_storage_pb2.FindTraceSummariesRequest()))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # the optional Capabilities service is not served: Jaeger takes that as "least capable"
    capabilities = channel.unary_unary("/jaeger.storage.v2.Capabilities/GetCapabilities")
    with pytest.raises(grpc.RpcError) as err:
        capabilities(b"", timeout=10)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


# -- HTTP: Jaeger's v1 JSON API for Grafana -------------------------------------------------


def http(collector: CollectorProcess, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(collector.api + "/jaeger" + path, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


TAG_TYPES = {"string": str, "bool": bool, "int64": int, "float64": float, "binary": str}


def check_envelope(body: Any) -> Any:
    assert set(body) == {"data", "total", "limit", "offset", "errors"}
    assert body["errors"] is None and body["limit"] == 0 and body["offset"] == 0
    assert body["total"] == len(body["data"])
    return body["data"]


def check_tags(tags: Any) -> dict[str, Any]:
    assert isinstance(tags, list)
    out = {}
    for t in tags:
        assert set(t) == {"key", "type", "value"}
        assert t["type"] in TAG_TYPES and type(t["value"]) is TAG_TYPES[t["type"]], t
        out[t["key"]] = t["value"]
    return out


def check_trace(trace: Any) -> dict[str, Any]:
    """Jaeger's trace model, field by field; returns spans by id."""
    assert set(trace) == {"traceID", "spans", "processes", "warnings"}
    assert re.fullmatch(r"[0-9a-f]{32}", trace["traceID"])
    for proc in trace["processes"].values():
        assert set(proc) == {"serviceName", "tags"} and isinstance(proc["serviceName"], str)
        check_tags(proc["tags"])
    spans = {}
    for s in trace["spans"]:
        assert set(s) == {"traceID", "spanID", "flags", "operationName", "references", "startTime", "duration",
                          "tags", "logs", "processID", "warnings"}  # fmt: skip
        assert s["traceID"] == trace["traceID"] and re.fullmatch(r"[0-9a-f]{16}", s["spanID"])
        assert isinstance(s["startTime"], int) and isinstance(s["duration"], int)
        assert s["processID"] in trace["processes"]
        for ref in s["references"]:
            assert set(ref) == {"refType", "traceID", "spanID"} and ref["refType"] in ("CHILD_OF", "FOLLOWS_FROM")
        for log in s["logs"]:
            assert set(log) == {"timestamp", "fields"} and isinstance(log["timestamp"], int)
            check_tags(log["fields"])
        spans[s["spanID"]] = s
    return spans


def test_http_services_operations_and_dependencies(jaeger_env):
    collector, _, _ = jaeger_env
    status, body = http(collector, "/api/services")
    assert status == 200 and check_envelope(body) == ["batch", "frontend", "scorer"]
    status, body = http(collector, "/api/services/scorer/operations")
    assert status == 200 and check_envelope(body) == ["feedback fraud", "fetch_features", "predict fraud"]
    status, body = http(collector, "/api/operations?service=frontend&spanKind=client")
    assert status == 200 and check_envelope(body) == [{"name": "call scorer", "spanKind": "client"}]
    end_ms = (T0 + 60 * 10**9) // MS
    status, body = http(collector, f"/api/dependencies?endTs={end_ms}&lookback=120000")
    assert status == 200 and check_envelope(body) == [{"parent": "frontend", "child": "scorer", "callCount": 6}]
    status, body = http(collector, "/api/operations")
    assert status == 400 and body["errors"][0]["code"] == 400 and body["data"] is None


def test_http_trace_by_id_in_jaegers_model(jaeger_env):
    collector, sent, _ = jaeger_env
    tid, spans = next((t, s) for t, s in traces_of(sent, "predict fraud").items() if any(x.events for x in s))
    status, body = http(collector, f"/api/traces/{tid}")
    [trace] = check_envelope(body)
    got = check_trace(trace)
    assert status == 200 and trace["traceID"] == tid and len(got) == len(spans)
    for s in spans:
        j = got[format(s.context.span_id, "016x")]
        assert j["operationName"] == s.name
        assert j["startTime"] == s.start_time // 1000 and j["duration"] == (s.end_time - s.start_time) // 1000
        assert trace["processes"][j["processID"]]["serviceName"] == s.resource.attributes["service.name"]
        parent = [r for r in j["references"] if r["refType"] == "CHILD_OF"]
        assert parent == (
            [{"refType": "CHILD_OF", "traceID": tid, "spanID": format(s.parent.span_id, "016x")}] if s.parent else []
        )
        tags = check_tags(j["tags"])
        for k, v in s.attributes.items():
            assert tags[k] == v  # typed: ml.input.rows int64, ml.profile.sampled bool
        assert tags["span.kind"] == s.kind.name.lower()
        assert tags["otel.scope.name"] == s.instrumentation_scope.name
        if s.status.status_code == StatusCode.ERROR:
            assert tags["error"] is True and tags["otel.status_description"] == s.status.description
            [log] = j["logs"]
            fields = check_tags(log["fields"])
            assert log["timestamp"] == s.events[0].timestamp // 1000
            assert fields == {"event": "exception", **dict(s.events[0].attributes)}
    # a short id is zero-padded like Jaeger does; a missing one is a 404 in the envelope
    assert http(collector, "/api/traces/" + "0" * 31 + "1")[0] == 404
    status, body = http(collector, "/api/traces/xyz")
    assert status == 400 and body["errors"][0]["msg"].startswith("malformed trace id")


def test_http_search(jaeger_env):
    collector, sent, _ = jaeger_env
    start_us, end_us = (T0 - 10**9) // 1000, (T0 + 60 * 10**9) // 1000
    base = f"/api/traces?service=scorer&start={start_us}&end={end_us}"

    def search(query: str) -> set[str]:
        status, body = http(collector, base + query)
        assert status == 200, body
        traces = check_envelope(body)
        for t in traces:
            check_trace(t)
        return {t["traceID"] for t in traces}

    assert search("&operation=predict%20fraud&limit=20") == _expected_ids(sent, lambda s: s.name == "predict fraud")
    assert search("&tags=" + urllib.request.quote('{"tenant":"t0"}')) == _expected_ids(
        sent, lambda s: s.attributes.get("tenant") == "t0"
    )
    assert search("&tag=ml.model.version:4&tag=tenant:t1") == _expected_ids(
        sent, lambda s: s.attributes.get("ml.model.version") == "4" and s.attributes.get("tenant") == "t1"
    )
    assert search("&operation=predict%20fraud&minDuration=30ms&maxDuration=0.05s") == _expected_ids(
        sent, lambda s: s.name == "predict fraud" and 30 * MS <= s.end_time - s.start_time <= 50 * MS
    )
    assert len(search("&operation=predict%20fraud&limit=2")) == 2
    # the capped job trace carries the warning
    status, body = http(collector, f"/api/traces?service=batch&start={start_us}&end={end_us}")
    [job] = check_envelope(body)
    assert len(job["spans"]) == MAX_SPANS and "2500 spans" in job["warnings"][0]
    status, body = http(collector, base + "&minDuration=soon")
    assert status == 400 and "Go duration" in body["errors"][0]["msg"]
    status, body = http(collector, "/api/traces?limit=3")
    assert status == 400 and "service" in body["errors"][0]["msg"]

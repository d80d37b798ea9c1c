"""One trace of 10,051 spans as an OTLP request: a root, 50 requests, 200 predict calls of a
model (with an input sample) and 9,800 steps under them, a few of them failed with an exception
event. The waterfall's test and the UI benchmark send it."""

from __future__ import annotations

import json
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

SPANS = 10_051
LAST_STEP = "step 9799"


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def big_trace_request(trace_id: str, start_ns: int | None = None, service: str = "batch-scorer") -> bytes:
    start = start_ns if start_ns is not None else time.time_ns() - 120 * 10**9
    tid = bytes.fromhex(trace_id)
    spans: list[Span] = []
    counter = iter(range(1, 1 << 62))

    def span(name: str, parent: bytes, begin: int, length: int, attrs: list[KeyValue] | None = None) -> bytes:
        sid = next(counter).to_bytes(8, "big")
        spans.append(
            Span(
                trace_id=tid,
                span_id=sid,
                parent_span_id=parent,
                name=name,
                kind=Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=begin,
                end_time_unix_nano=begin + length,
                attributes=attrs or [],
            )
        )
        return sid

    root = span("nightly batch", b"", start, 60 * 10**9)
    step_no = 0
    for r in range(50):
        r_start = start + r * 1_200_000_000
        request = span(f"request {r}", root, r_start, 1_150_000_000, [_kv("request.index", r)])
        for p in range(4):
            p_start = r_start + p * 280_000_000
            sample = json.dumps({"amount": [10.0 * r + p], "region": ["eu" if p % 2 else "us"]})
            predict = span(
                "predict fraud",
                request,
                p_start,
                270_000_000,
                [
                    _kv("ml.model.name", "fraud"),
                    _kv("ml.model.version", "3"),
                    _kv("ml.operation.name", "predict"),
                    _kv("ml.input.sample", sample),
                    _kv("ml.input.rows", 1),
                ],
            )
            for s in range(49):
                step_start = p_start + s * 5_400_000
                sid = span(f"step {step_no}", predict, step_start, 5_000_000, [_kv("ml.step.name", f"step {s}")])
                if step_no % 980 == 979:  # ten failed steps (the last one among them), each with its exception
                    failed = spans[-1]
                    failed.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="timeout"))
                    event = failed.events.add()
                    event.name = "exception"
                    event.time_unix_nano = step_start + 4_000_000
                    event.attributes.extend([_kv("exception.type", "TimeoutError"), _kv("exception.message", "slow")])
                del sid
                step_no += 1
    request_pb = ExportTraceServiceRequest()
    rs = request_pb.resource_spans.add()
    rs.resource.attributes.extend([_kv("service.name", service), _kv("host.name", "worker-1")])
    ss = rs.scope_spans.add()
    ss.scope.name = "tests.ui.big_trace"
    ss.spans.extend(spans)
    assert len(spans) == SPANS
    return request_pb.SerializeToString()

"""Property test: arbitrary OTLP requests against a real collector process.

Requests are generated within the protobuf types: any uint64 times, ids of any length, any
attribute shapes and depths (past protobuf's nesting limit too), ``ml.*`` attributes holding
odd JSON, any number of days, and raw byte mutations of valid requests. The collector must
answer as the OTLP spec says (200, with partial success when spans are refused, or 400;
never a 5xx, never a hang), keep storing valid spans sent afterwards within seconds, and
account for every span it acknowledged: stored or dead-lettered, none lost.

``MODELTRACE_FUZZ_EXAMPLES`` sets the number of examples (300 by default; ``make fuzz`` runs
thousands with a random seed).
"""

import json
import os
import urllib.error
import urllib.request

import grpc
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from modeltrace_collector.pipeline.deadletter import otlp_json
from tests.integration.collector_proc import CollectorProcess

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("MODELTRACE_FUZZ_EXAMPLES", "300"))
RANDOM = os.environ.get("MODELTRACE_FUZZ_RANDOM") == "1"
U64 = 2**64 - 1
DAY_NS = 86_400 * 10**9
BASE_NS = 1_760_000_000 * 10**9
ML_KEYS = [
    "ml.model.name", "ml.model.version", "ml.operation.name", "ml.prediction.id", "ml.input.rows",
    "ml.input.columns", "ml.output.rows", "ml.input.sample", "ml.output.sample", "ml.input.stats",
    "ml.profile.sampled", "ml.profile.hotspots", "ml.actual", "error.type",
]  # fmt: skip
ODD_JSON = [
    "", "{", "[]", "{}", "null", '{"a": [1, 2, null]}', '{"a": ["x", 1, {"b": [2]}]}', '{"a": [1e308, -1e308]}',
    '{"a": [' + ",".join(["1"] * 3000) + "]}", '{"a": "not a list"}', "[" * 2000 + "]" * 2000,
    '[{"function": "f", "line": 99999999999, "calls": -1, "self_ms": "x"}]', '{"": [1], "\\u0000": ["z"]}',
    "99999999999999999999999", "-1", "NaN", "true", '"quoted"', '{"a": [' + ",".join(['"v"'] * 3000) + "]}",
]  # fmt: skip

times = st.one_of(
    st.integers(0, U64),
    *[st.integers(BASE_NS - 3000 * DAY_NS, BASE_NS + 3000 * DAY_NS)] * 4,
    st.sampled_from([0, 1, 2**63 - 1, 2**63, U64, 4_294_967_295 * 10**9, 4_294_967_296 * 10**9]),
)
# Mostly well-formed ids, so that most spans reach storage; any length and all-zero ones too.
# (Hypothesis favours zero bytes, and an all-zero id is invalid: valid ones come from integers.)
ids = st.one_of(
    *[st.integers(1, 2**128 - 1).map(lambda i: i.to_bytes(16, "big"))] * 4, st.binary(max_size=20), st.just(bytes(16))
)
span_ids = st.one_of(
    *[st.integers(1, 2**64 - 1).map(lambda i: i.to_bytes(8, "big"))] * 4, st.binary(max_size=10), st.just(bytes(8))
)
text = st.text(max_size=40)


def any_value(depth_limit=6):
    scalars = st.one_of(
        text.map(lambda s: common_pb2.AnyValue(string_value=s)),
        st.sampled_from(ODD_JSON).map(lambda s: common_pb2.AnyValue(string_value=s)),
        st.booleans().map(lambda b: common_pb2.AnyValue(bool_value=b)),
        st.integers(-(2**63), 2**63 - 1).map(lambda i: common_pb2.AnyValue(int_value=i)),
        st.floats(allow_nan=True, allow_infinity=True).map(lambda f: common_pb2.AnyValue(double_value=f)),
        st.binary(max_size=30).map(lambda b: common_pb2.AnyValue(bytes_value=b)),
        st.just(common_pb2.AnyValue()),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4).map(
                lambda vs: common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=vs))
            ),
            st.lists(st.tuples(text, children), max_size=4).map(
                lambda kvs: common_pb2.AnyValue(
                    kvlist_value=common_pb2.KeyValueList(values=[common_pb2.KeyValue(key=k, value=v) for k, v in kvs])
                )
            ),
        ),
        max_leaves=depth_limit * 2,
    )


@st.composite
def deep_value(draw):
    """Nested arrays, within what a protobuf message built in Python may hold (the wire tests go deeper)."""
    depth = draw(st.integers(0, 40))  # each array adds two message levels; protobuf stops at 100
    value = common_pb2.AnyValue(string_value="leaf")
    for _ in range(depth):
        value = common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[value]))
    return value


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    tag, size = (number << 3) | 2, len(payload)
    out = bytearray()
    for v in (tag, size):
        while v > 0x7F:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
    return bytes(out) + payload


def deep_request(depth: int, n: int) -> bytes:
    """A request whose one attribute nests ``depth`` arrays, encoded by hand: protobuf's own
    encoder refuses to build past its recursion limit, a client on the wire need not."""
    value = _field(1, b"leaf")  # AnyValue.string_value
    for _ in range(depth):
        value = _field(5, _field(1, value))  # AnyValue.array_value { ArrayValue.values }
    attribute = _field(1, b"deep") + _field(2, value)
    span = (
        _field(1, (0xDE0000 + n).to_bytes(16, "big"))
        + _field(2, (0xDE0000 + n).to_bytes(8, "big"))
        + _field(5, b"deep")
        + b"\x39"
        + (BASE_NS + n).to_bytes(8, "little")  # start_time_unix_nano: field 7, fixed64
        + b"\x41"
        + (BASE_NS + n + 1000).to_bytes(8, "little")  # end_time_unix_nano: field 8, fixed64
        + _field(9, attribute)
    )
    return _field(1, _field(2, _field(2, span)))


key_values = st.lists(
    st.tuples(st.one_of(text, st.sampled_from(ML_KEYS)), st.one_of(any_value(), deep_value())).map(
        lambda kv: common_pb2.KeyValue(key=kv[0], value=kv[1])
    ),
    max_size=6,
)


@st.composite
def spans(draw):
    start = draw(times)
    end = draw(st.one_of(times, st.integers(0, 10**12).map(lambda d: min(U64, start + d))))
    return trace_pb2.Span(
        trace_id=draw(ids),
        span_id=draw(span_ids),
        parent_span_id=draw(st.one_of(st.just(b""), span_ids)),
        trace_state=draw(text),
        name=draw(text),
        kind=draw(st.integers(-(2**31), 2**31 - 1)),
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=draw(key_values),
        dropped_attributes_count=draw(st.integers(0, 2**32 - 1)),
        events=draw(
            st.lists(
                st.builds(trace_pb2.Span.Event, time_unix_nano=times, name=text, attributes=key_values), max_size=3
            )
        ),
        links=draw(
            st.lists(
                st.builds(trace_pb2.Span.Link, trace_id=ids, span_id=span_ids, trace_state=text, attributes=key_values),
                max_size=2,
            )
        ),
        status=trace_pb2.Status(code=draw(st.integers(-(2**31), 2**31 - 1)), message=draw(text)),
        flags=draw(st.integers(0, 2**32 - 1)),
    )


requests = st.builds(
    trace_service_pb2.ExportTraceServiceRequest,
    resource_spans=st.lists(
        st.builds(
            trace_pb2.ResourceSpans,
            resource=st.builds(resource_pb2.Resource, attributes=key_values),
            scope_spans=st.lists(
                st.builds(
                    trace_pb2.ScopeSpans,
                    scope=st.builds(common_pb2.InstrumentationScope, name=text, version=text),
                    spans=st.lists(spans(), min_size=1, max_size=8),
                ),
                min_size=1,
                max_size=3,
            ),
            schema_url=text,
        ),
        max_size=3,
    ),
)


def marker(name: str, n: int) -> trace_pb2.ResourceSpans:
    """One valid span, unique to ``n``."""
    span = trace_pb2.Span(
        trace_id=(0xCA0000 + n).to_bytes(16, "big"),
        span_id=(0xCA0000 + n).to_bytes(8, "big"),
        name=name,
        start_time_unix_nano=BASE_NS + n,
        end_time_unix_nano=BASE_NS + n + 1000,
    )
    return trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])


def canary(n: int) -> bytes:
    return trace_service_pb2.ExportTraceServiceRequest(resource_spans=[marker("canary", n)]).SerializeToString()


def http(proc, body: bytes, ctype: str) -> tuple[int, bytes]:
    r = urllib.request.Request(proc.http_endpoint + "/v1/traces", data=body, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(r, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def as_otlp_json(request) -> bytes:
    return json.dumps(otlp_json(request.SerializeToString())).encode()


def mutate(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for position, value in flips:
        if out:
            out[position % len(out)] = value
    return bytes(out)


def counter(proc, name: str) -> float:
    with urllib.request.urlopen(proc.api + "/metrics", timeout=10) as r:
        lines = r.read().decode().splitlines()
    if "{" in name:  # one series
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(name + " "))
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.split("{")[0].split(" ")[0] == name)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    proc = CollectorProcess(str(tmp_path_factory.mktemp("fuzz") / "c"), "analysis.enabled=false").start()
    yield proc
    proc.stop()
    proc.kill()


def test_arbitrary_otlp_requests_never_break_storage(fuzzed):
    proc = fuzzed
    channel = grpc.insecure_channel(f"127.0.0.1:{proc.grpc_port}")
    export = channel.unary_unary(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        request_serializer=None,
        response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString,
    )
    seen = {"examples": 0, "canaries": 0, "statuses": {}}

    def check_canary():
        seen["canaries"] += 1
        n = seen["canaries"]
        status, body = http(proc, canary(n), "application/x-protobuf")
        assert status == 200, body
        proc.wait_stored("otel_traces", 1, f"SpanName = 'canary' AND SpanId = '{(0xCA0000 + n):016x}'", timeout=20)

    def note(status):
        seen["statuses"][status] = seen["statuses"].get(status, 0) + 1

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        request=requests,
        how=st.sampled_from(["protobuf", "json", "grpc", "mutated", "deep"]),
        depth=st.integers(30, 70),
        flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6),
    )
    def one(request, how, flips, depth):
        # Every example holds one span of its own: a batch byte-identical to an earlier one would
        # be kept once by ClickHouse's deduplication (as a client's repeated request is), and
        # the count of stored rows below could not be exact.
        request.resource_spans.append(marker("marker", 10**6 + seen["examples"]))
        raw = request.SerializeToString()
        if how == "deep":
            how, raw = ("grpc" if depth % 2 else "protobuf"), deep_request(depth, seen["examples"])
        if how == "grpc":
            try:
                answer = export(raw, timeout=30)
                note(200)
                assert answer.partial_success.rejected_spans >= 0
            except grpc.RpcError as exc:
                note(exc.code().name)
                assert exc.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED), exc
        else:
            if how == "json":
                try:
                    body, ctype = as_otlp_json(request), "application/json"
                except (ValueError, RecursionError):  # nothing JSON can carry (NaN keys and the like)
                    return
            elif how == "mutated":
                body, ctype = mutate(raw, flips), "application/x-protobuf"
            else:
                body, ctype = raw, "application/x-protobuf"
            status, reply = http(proc, body, ctype)
            note(status)
            assert status in (200, 400, 413), (status, reply[:300])
        seen["examples"] += 1
        if seen["examples"] % 50 == 0:
            check_canary()

    if RANDOM:
        one()
    else:
        seed(20261201)(one)()
    check_canary()
    channel.close()

    # Every acknowledged span is accounted for: stored, or dead-lettered with its reason.
    def settled():
        received = counter(proc, "modeltrace_spans_received_total")
        done = counter(proc, "modeltrace_spans_stored_total") + counter(proc, "modeltrace_dead_letters_total")
        return received == done

    proc.wait_until(settled, timeout=60, what="every received span stored or dead-lettered")
    stored = proc.count("otel_traces")
    assert stored == counter(proc, "modeltrace_spans_stored_total")
    others = proc.count("otel_traces", "SpanName NOT IN ('marker', 'canary')")
    refused = {
        reason: counter(proc, f'modeltrace_spans_refused_total{{reason="{reason}"}}')
        for reason in ("invalid_id", "time_out_of_range")
    }
    print(f"fuzz: refused {refused}")
    print(f"fuzz: {seen['examples']} examples, answers {seen['statuses']}, {stored} spans stored, {others} generated")
    assert seen["statuses"].get(200, 0) > EXAMPLES // 10  # the generator reaches the storing path

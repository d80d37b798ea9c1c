"""Bad numbers, bad bodies and bad connections against every HTTP route of a real collector
process: a 4xx with a message that names what is wrong, never a 5xx, never a hang, and nothing
stored from a body that did not arrive whole."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.collector.spans import make_requests
from tests.integration.collector_proc import CollectorProcess

pytestmark = pytest.mark.slow

MODEL = "fraud"  # what tests.collector.spans.make_requests traces
SERVICE = "inputs-api"
NOW_S = int(time.time())
TRACE_ID = "5b8efff798038103d269b633813fc60c"

# Values no numeric or time parameter takes: each answers 400 naming the parameter, unless the
# case lists it as legitimately valid there.
BAD_VALUES = [
    "nan", "NaN", "inf", "-inf", "Infinity", "1e30", "-1e30", "-1", "0", "abc", str(10**30), "9" * 400,
    "1e400", "\u0661\u0662\u0663", "0x10", "1_000", "12abc", "\u00e9t\u00e9", "\x00", "1.5.5", "--1",
]  # fmt: skip


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    param: str
    others: str = ""
    valid: tuple[str, ...] = ()  # values of BAD_VALUES that are legitimately valid for this parameter


RANGE = f"start={NOW_S - 3600}&end={NOW_S}"
JAEGER_RANGE = f"start={(NOW_S - 3600) * 10**6}&end={NOW_S * 10**6}"
HEX_ID = re.compile(r"[0-9a-fA-F]{1,32}")
CASES = [
    Case("GET", "/api/models", "window"),
    Case("GET", "/api/latency", "window"),
    Case("GET", "/api/hotspots", "window"),
    Case("GET", "/api/hotspots", "limit"),
    Case("GET", "/api/predictions", "limit"),
    Case("GET", "/api/findings", "limit"),
    Case("GET", "/api/findings", "window"),
    Case("GET", "/api/findings", "status"),
    Case("GET", "/api/anomalies", "at", "live=1"),
    Case("GET", "/api/anomalies", "at"),
    Case("GET", "/api/anomalies", "live", valid=("0",)),
    Case("GET", "/api/anomalies", "status"),
    Case("GET", "/api/drift", "at", f"model={MODEL}"),
    Case("GET", "/api/drift", "window", f"model={MODEL}"),
    Case("GET", "/api/drift", "reference", f"model={MODEL}"),
    Case("GET", "/api/rca", "start", f"model={MODEL}&end={NOW_S}"),
    Case("GET", "/api/rca", "end", f"model={MODEL}&start={NOW_S - 3600}"),
    Case("GET", "/api/rca", "kind", f"model={MODEL}&{RANGE}"),
    Case("GET", "/api/performance", "at", f"model={MODEL}"),
    Case("GET", "/api/performance", "window", f"model={MODEL}"),
    Case("GET", "/api/performance", "bucket", f"model={MODEL}"),
    Case("POST", "/api/analysis/run", "at", f"model={MODEL}"),
    # the web UI's routes
    Case("GET", "/api/overview", "window"),
    Case("GET", "/api/overview", "start", f"end={NOW_S}"),
    Case("GET", "/api/overview", "end", f"start={NOW_S - 3600}"),
    Case("GET", "/api/overview", "points"),
    Case("GET", "/api/series", "window", f"model={MODEL}"),
    Case("GET", "/api/series", "step", f"model={MODEL}"),
    Case("GET", "/api/series", "start", f"model={MODEL}&end={NOW_S}"),
    Case("GET", "/api/hotspots", "start", f"end={NOW_S}"),
    Case("GET", "/api/hotspots/diff", "limit", f"model={MODEL}&from=1&to=2"),
    Case("GET", "/api/hotspots/diff", "window", f"model={MODEL}&from=1&to=2"),
    Case("GET", "/api/drift/features", "window", f"model={MODEL}"),
    Case("GET", "/api/drift/scores", "window", f"model={MODEL}&feature=amount"),
    Case("GET", "/api/drift/scores", "side", f"model={MODEL}&feature=amount"),
    Case("GET", "/api/drift/distribution", "at", f"model={MODEL}&feature=amount"),
    Case("GET", "/api/drift/distribution", "window", f"model={MODEL}&feature=amount"),
    Case("GET", "/api/drift/distribution", "side", f"model={MODEL}&feature=amount"),
    Case("GET", "/api/drift/distribution", "reference", f"model={MODEL}&feature=amount"),
    Case("GET", "/api/calls", "min_ms", valid=("0",)),
    Case("GET", "/api/calls", "max_ms", valid=("0",)),
    Case("GET", "/api/calls", "limit"),
    Case("GET", "/api/calls", "order"),
    Case("GET", "/api/calls", "status"),
    Case("GET", "/api/calls", "start", f"end={NOW_S}"),
    Case("GET", "/api/calls", "attribute"),
    Case("GET", f"/api/traces/{TRACE_ID}", "view"),
    # Jaeger's v1 JSON API: times in microseconds (0: not given), Go durations, a JSON object of tags
    Case("GET", "/jaeger/api/traces", "start", f"service={SERVICE}", valid=("0",)),
    Case("GET", "/jaeger/api/traces", "end", f"service={SERVICE}", valid=("0",)),
    Case("GET", "/jaeger/api/traces", "limit", f"service={SERVICE}", valid=("0",)),
    Case("GET", "/jaeger/api/traces", "lookback", f"service={SERVICE}&end={NOW_S * 10**6}"),
    Case("GET", "/jaeger/api/traces", "minDuration", f"service={SERVICE}&{JAEGER_RANGE}", valid=("0",)),
    Case("GET", "/jaeger/api/traces", "maxDuration", f"service={SERVICE}&{JAEGER_RANGE}", valid=("0",)),
    Case("GET", "/jaeger/api/traces", "tags", f"service={SERVICE}&{JAEGER_RANGE}"),
    Case("GET", "/jaeger/api/traces", "traceID", valid=tuple(v for v in BAD_VALUES if HEX_ID.fullmatch(v))),
    Case("GET", f"/jaeger/api/traces/{TRACE_ID}", "start", valid=("0",)),
    Case("GET", f"/jaeger/api/traces/{TRACE_ID}", "end", valid=("0",)),
    Case("GET", "/jaeger/api/dependencies", "endTs", valid=("0",)),
    Case("GET", "/jaeger/api/dependencies", "lookback"),
]


def request(proc: CollectorProcess, method: str, path: str, body: bytes | None = None, port: int | None = None,
            content_type: str = "application/json") -> tuple[int, bytes, Any]:  # fmt: skip
    """(status, raw body, headers); a hang fails the test through the timeout."""
    url = f"http://127.0.0.1:{port or proc.api_port}{path}"
    data = body if body is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def error_message(raw: bytes) -> str:
    """The message of an API error ({"error"}) or a Jaeger one ({"errors": [{"msg"}]}); '' if none."""
    try:
        body = json.loads(raw)
    except ValueError:
        return ""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    if isinstance(body, dict) and body.get("errors"):
        return str(body["errors"][0].get("msg", ""))
    return ""


def otlp_post(proc: CollectorProcess, body: bytes, content_type: str = "application/x-protobuf") -> tuple[int, bytes]:
    status, raw, _ = request(proc, "POST", "/v1/traces", body, port=proc.http_port, content_type=content_type)
    return status, raw


def spans_received(proc: CollectorProcess) -> float:
    text = urllib.request.urlopen(proc.api + "/metrics", timeout=10).read().decode()
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith("modeltrace_spans_received")))


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    proc = CollectorProcess(str(tmp_path_factory.mktemp("inputs")), "analysis.enabled=false").start()
    for body in make_requests(2, 20, service=SERVICE):
        assert otlp_post(proc, body)[0] == 200
    proc.wait_stored("ml_predictions", 40)
    yield proc
    proc.stop()
    proc.kill()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path} {c.param}")
def test_every_numeric_and_time_parameter_refuses_bad_values(loaded, case):
    problems = []
    for value in BAD_VALUES:
        query = "&".join(p for p in (case.others, f"{case.param}={quote(value, safe='')}") if p)
        status, raw, _ = request(loaded, case.method, f"{case.path}?{query}")
        message = error_message(raw)
        shown = f"{case.param}={value[:20]!r}"
        if status >= 500:
            problems.append(f"{shown}: {status} {raw[:200]!r}")
        elif status >= 400 and not message:
            problems.append(f"{shown}: {status} without a JSON error message: {raw[:200]!r}")
        elif value not in case.valid and (status != 400 or not re.search(rf"\b{case.param}\b", message)):
            problems.append(f"{shown}: expected 400 naming {case.param!r}, got {status} {message[:200]!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "value, valid",
    [(str(NOW_S), True), (str(NOW_S * 1000), True), ("2026-01-02T03:04:05Z", True), ("2026-01-02", True),
     ("1999-12-31T23:59:59Z", False), ("2200-01-02", False), ("0001-01-01T00:00:00+01:00", False),
     ("9999-12-31T23:59:59-23:59", False), ("2026-13-01", False), ("2026-01-01T00:00:00+99:00", False)],
)  # fmt: skip
def test_times_are_epoch_or_iso_within_the_supported_range(loaded, value, valid):
    status, raw, _ = request(loaded, "GET", f"/api/drift?model={MODEL}&at={quote(value)}&window=1h")
    if valid:
        assert status in (200, 404), raw  # 404: no sampled values in that window
    else:
        assert status == 400 and "at" in error_message(raw), raw


def test_rca_range_and_performance_buckets_are_bounded(loaded):
    start = NOW_S - 401 * 86400
    status, raw, _ = request(loaded, "GET", f"/api/rca?model={MODEL}&start={start}&end={NOW_S}")
    assert status == 400 and "end" in error_message(raw) and "start" in error_message(raw), raw
    status, raw, _ = request(loaded, "GET", f"/api/rca?model={MODEL}&start={NOW_S}&end={NOW_S - 60}")
    assert status == 400, raw
    status, raw, _ = request(loaded, "GET", f"/api/performance?model={MODEL}&window=400d&bucket=1s")
    assert status == 400 and "bucket" in error_message(raw), raw
    status, raw, _ = request(loaded, "GET", f"/api/performance?model={MODEL}&window=1h&bucket=2h")
    assert status == 400 and "bucket" in error_message(raw), raw
    status, raw, _ = request(loaded, "GET", f"/api/performance?model={MODEL}&window=2h&bucket=30m")
    assert status == 200, raw


BAD_IDS = ["nan", "abc", "-1", "0" * 33, "g" * 32, "\x00", "\u00e9", "9" * 400, "%", "a b", "1e30"]


@pytest.mark.parametrize("path", ["/api/traces/{}", "/api/findings/{}", "/api/rca/{}"])
def test_malformed_ids_in_paths_are_400(loaded, path):
    problems = []
    for value in BAD_IDS:
        status, raw, _ = request(loaded, "GET", path.format(quote(value, safe="")))
        if status != 400 or not error_message(raw):
            problems.append(f"{value[:20]!r}: {status} {raw[:200]!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("value", ["abc", "0" * 33, "g" * 32, "\x00", "9" * 400, "x,y"])
def test_jaeger_trace_ids(loaded, value):
    status, raw, _ = request(loaded, "GET", f"/jaeger/api/traces/{quote(value, safe='')}")
    assert (status, bool(error_message(raw))) == ((404, True) if value == "abc" else (400, True)), raw
    status, raw, _ = request(loaded, "GET", f"/jaeger/api/traces?traceID={quote(value, safe='')}")
    assert status == (200 if value == "abc" else 400), raw


# as they appear in the query string: NUL, long, quotes, placeholders, emoji, bytes that are not UTF-8
ODD_STRINGS = [quote(v, safe="") for v in ("\x00", "\u00e9" * 1000, "a" * 20000, "'; DROP TABLE x; --", "{x:String}",
               "\U0001f600")] + ["%ff%fe", "%"]  # fmt: skip


@pytest.mark.parametrize(
    "path, param",
    [("/api/latency", "model"), ("/api/hotspots", "model"), ("/api/predictions", "model"), ("/api/findings", "model"),
     ("/api/findings", "kind"), ("/api/anomalies", "model"), ("/api/drift", "model"), ("/api/drift", "version"),
     ("/api/performance", "model"), ("/api/references", "model"), ("/api/sql", "query"),
     ("/jaeger/api/operations", "service"), ("/jaeger/api/operations", "spanKind"),
     ("/jaeger/api/traces", "service"), ("/jaeger/api/traces", "operation")],
)  # fmt: skip
def test_string_parameters_never_fail_the_server(loaded, path, param):
    for value in ODD_STRINGS:
        extra = "&service=x" if param == "spanKind" else ""
        status, raw, _ = request(loaded, "GET", f"{path}?{param}={value}{extra}")
        assert status < 500, (value[:20], raw[:300])
        assert status < 400 or error_message(raw), raw[:300]


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


REFERENCE_BODIES = {
    "huge integer": '{"model": "m", "features": {"a": [1, 1' + "0" * 400 + "]}}",
    "huge integer as a float": '{"model": "m", "features": {"a": [1e400, 2]}}',
    "NaN literal": '{"model": "m", "features": {"a": [1, NaN]}}',
    "Infinity literal": '{"model": "m", "features": {"a": [Infinity, 2]}}',
    "-Infinity literal": '{"model": "m", "features": {"a": [-Infinity, 2]}}',
    "nested list": '{"model": "m", "features": {"a": [[1, 2], [3]]}}',
    "nested object": '{"model": "m", "features": {"a": [{"x": 1}]}}',
    "numbers and strings": '{"model": "m", "features": {"a": [1, "x"]}}',
    "numbers and booleans": '{"model": "m", "features": {"a": [1, true]}}',
    "empty list": '{"model": "m", "features": {"a": []}}',
    "features as a list": '{"model": "m", "features": [["a", [1]]]}',
    "empty feature name": '{"model": "m", "features": {"": [1]}}',
    "long feature name": '{"model": "m", "features": {"' + "x" * 1000 + '": [1]}}',
    "numeric version": '{"model": "m", "version": 3, "features": {"a": [1]}}',
    "numeric source": '{"model": "m", "source": 3, "features": {"a": [1]}}',
    "model not a string": '{"model": ["m"], "features": {"a": [1]}}',
    "10,000 levels deep": '{"model": "m", "features": {"a": ' + nested(10_000) + "}}",
    "100,000 levels deep": nested(100_000, "{}"),
    "not JSON": "{model",
    "not UTF-8": '{"model": "m\xff"}',
    "a list": "[]",
    "null": "null",
}


@pytest.mark.parametrize("name", list(REFERENCE_BODIES))
def test_reference_uploads_refuse_bad_values_and_store_nothing(loaded, name):
    body = REFERENCE_BODIES[name].encode("latin-1" if name == "not UTF-8" else "utf-8")
    before = loaded.get("/api/references?model=m")
    status, raw, _ = request(loaded, "POST", "/api/references", body)
    assert status == 400 and error_message(raw), raw[:300]
    assert loaded.get("/api/references?model=m") == before


SQL_BODIES = {
    "10,000 levels deep": nested(10_000, "{}"),
    "deep parameters": '{"query": "SELECT 1", "parameters": {"a": ' + nested(10_000) + "}}",
    "a list": "[]",
    "NaN": "NaN",
    "not UTF-8": '{"query": "\xff"}',
    "query not a string": '{"query": 1}',
}


@pytest.mark.parametrize("name", list(SQL_BODIES))
def test_sql_bodies_are_parsed_safely(loaded, name):
    body = SQL_BODIES[name].encode("latin-1" if name == "not UTF-8" else "utf-8")
    status, raw, _ = request(loaded, "POST", "/api/sql", body)
    assert status == 400 and error_message(raw), raw[:300]


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    tag, size, n = bytes([number << 3 | 2]), b"", len(payload)
    while True:
        size += bytes([n & 0x7F | (0x80 if n > 0x7F else 0)])
        n >>= 7
        if not n:
            return tag + size + payload


def deep_protobuf_request(depth: int) -> bytes:
    """An ExportTraceServiceRequest whose one attribute is an AnyValue array nested ``depth`` deep."""
    value = AnyValue(string_value="leaf").SerializeToString()
    for _ in range(depth):
        value = field(5, field(1, value))  # AnyValue.array_value: ArrayValue.values
    span = Span(trace_id=bytes.fromhex(TRACE_ID), span_id=b"12345678", name="x").SerializeToString()
    span += field(9, KeyValue(key="k").SerializeToString() + field(2, value))  # Span.attributes
    return field(1, field(2, field(2, span)))  # resource_spans / scope_spans / spans


def otlp_json(attribute_value: str) -> bytes:
    return (
        '{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "' + TRACE_ID + '", "spanId": "eee19b7ec3c1b174", '
        '"name": "x", "startTimeUnixNano": "1732286551000000000", "endTimeUnixNano": "1732286551250000000", '
        '"attributes": [{"key": "k", "value": ' + attribute_value + "}]}]}]}]}"
    ).encode()


def test_otlp_bodies_nested_too_deep_are_400(loaded):
    before = spans_received(loaded)
    array_levels = '{"arrayValue": {"values": [' * 200 + '{"stringValue": "x"}' + "]}}" * 200
    cases = {
        "JSON 10,000 levels deep": (nested(10_000, "{}").encode(), "application/json"),
        "JSON attribute 10,000 levels deep": (otlp_json(nested(10_000)), "application/json"),
        "OTLP/JSON AnyValue 200 levels deep": (otlp_json(array_levels), "application/json"),
        "protobuf AnyValue 10,000 levels deep": (deep_protobuf_request(10_000), "application/x-protobuf"),
    }
    problems = []
    for name, (body, ctype) in cases.items():
        status, raw = otlp_post(loaded, body, ctype)
        if status != 400:
            problems.append(f"{name}: {status} {raw[:200]!r}")
    assert not problems, "\n".join(problems)
    assert spans_received(loaded) == before


# -- raw connections ------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after answering


def read_reply(sock: socket.socket, timeout: float = 15.0) -> Reply:
    """One HTTP response from ``sock``; then whether the server closed the connection."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before an answer: {data[:200]!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Reply(status, headers, rest[:length], closed=is_closed(sock))


def is_closed(sock: socket.socket, wait: float = 3.0) -> bool:
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=15)


def raw_exchange(port: int, head: str, body: bytes = b"") -> Reply:
    with connect(port) as sock:
        sock.sendall(head.encode("latin-1") + body)
        return read_reply(sock)


def post_head(path: str, *headers: str, content_type: str = "application/json") -> str:
    return "\r\n".join([f"POST {path} HTTP/1.1", "Host: x", f"Content-Type: {content_type}", *headers, "", ""])


# (API path, OTLP/HTTP content type) for each listener
LISTENERS = {"api": "/api/references", "otlp": "/v1/traces"}


def port_of(proc: CollectorProcess, listener: str) -> int:
    return proc.api_port if listener == "api" else proc.http_port


@pytest.mark.parametrize("listener", list(LISTENERS))
@pytest.mark.parametrize(
    "headers, status, named",
    [(("Content-Length: -1",), 400, "content-length"), (("Content-Length: abc",), 400, "content-length"),
     (("Content-Length: 1e3",), 400, "content-length"), (("Content-Length: +5",), 400, "content-length"),
     (("Content-Length: 5", "Content-Length: 7"), 400, "content-length"),
     (("Content-Length: 5", "Transfer-Encoding: chunked"), 400, "content-length"),
     (("Transfer-Encoding: chunked",), 400, "chunk"), (("Transfer-Encoding: gzip",), 400, "transfer-encoding"),
     ((), 411, "content-length")],
    ids=["negative", "non-numeric", "exponent", "signed", "conflicting", "both", "bad-chunks", "not-chunked",
         "missing"],
)  # fmt: skip
def test_bad_content_length_is_refused_and_the_connection_closed(loaded, listener, headers, status, named):
    before = spans_received(loaded), loaded.get("/api/references?model=cl")
    # A body follows the headers: the server must neither wait for the end of the stream nor
    # take the bytes for a next request.
    body = b'{"model": "cl", "features": {"a": [1]}}' + b" " * 65536
    reply = raw_exchange(port_of(loaded, listener), post_head(LISTENERS[listener], *headers), body)
    assert (reply.status, reply.closed) == (status, True), reply
    assert named in reply.body.decode("utf-8", "replace").lower(), reply
    assert (spans_received(loaded), loaded.get("/api/references?model=cl")) == before


@pytest.mark.parametrize("listener", list(LISTENERS))
def test_body_over_the_limit_is_refused_before_it_is_read(loaded, listener):
    # No body is sent at all: the answer comes from the announced length alone.
    reply = raw_exchange(port_of(loaded, listener), post_head(LISTENERS[listener], f"Content-Length: {1 << 40}"))
    assert (reply.status, reply.closed) == (413, True), reply


def test_reference_limit_defaults_to_32_mib(loaded):
    reply = raw_exchange(loaded.api_port, post_head("/api/references", f"Content-Length: {(32 << 20) + 1}"))
    assert (reply.status, reply.closed) == (413, True), reply
    message = error_message(reply.body)
    assert "api.max_reference_bytes" in message and "per feature" in message and "sample" in message, message
    # a client that sends the whole body before it reads the answer gets the answer, not a reset
    status, raw, _ = request(loaded, "POST", "/api/references", b" " * (40 << 20))
    assert status == 413 and "api.max_reference_bytes" in error_message(raw), raw[:300]


@pytest.mark.parametrize("listener", list(LISTENERS))
def test_a_client_that_expects_100_continue_is_refused_before_it_sends(loaded, listener):
    head = post_head(LISTENERS[listener], f"Content-Length: {1 << 40}", "Expect: 100-continue")
    reply = raw_exchange(port_of(loaded, listener), head)
    assert (reply.status, reply.closed) == (413, True), reply
    with connect(loaded.api_port) as sock:
        body = json.dumps({"model": "continued", "features": {"a": [1.0]}}).encode()
        sock.sendall(post_head("/api/references", f"Content-Length: {len(body)}", "Expect: 100-continue").encode())
        assert read_reply(sock).status == 100
        sock.sendall(body)
        assert read_reply(sock).status == 201


def test_a_body_cut_short_is_never_stored(loaded):
    before = spans_received(loaded)
    cut_otlp, marker = make_requests(2, 3, service="cut-short")
    with connect(loaded.http_port) as sock:
        head = post_head("/v1/traces", f"Content-Length: {len(cut_otlp) + 100}", content_type="application/x-protobuf")
        sock.sendall(head.encode() + cut_otlp)
    reference = json.dumps({"model": "cut", "features": {"a": [1.0, 2.0]}}).encode()
    with connect(loaded.api_port) as sock:
        sock.sendall(post_head("/api/references", f"Content-Length: {len(reference) + 100}").encode() + reference)
    # Spans go through the spool in order: once a later request is stored, the cut one would be too.
    assert otlp_post(loaded, marker)[0] == 200
    loaded.wait_stored("otel_traces", 3, "ServiceName = 'cut-short'")
    assert loaded.count("otel_traces", "ServiceName = 'cut-short'") == 3
    assert spans_received(loaded) == before + 3
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert loaded.get("/api/references?model=cut") == (200, {"references": []})
        time.sleep(0.2)


def read_until_quiet(sock: socket.socket, quiet: float = 2.0) -> bytes:
    """Everything the server sends until it closes or says nothing for ``quiet`` seconds."""
    sock.settimeout(quiet)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionError):
        pass
    return data


@pytest.mark.parametrize("path", ["/health", "/api/models"])
def test_a_get_with_a_body_is_refused_at_once_and_smuggles_nothing(loaded, path):
    """A route that takes no body answers without waiting for one (a client announcing a body
    it never sends would otherwise hold the connection for the read timeout) and closes."""
    smuggled = b"GET /api/nothing HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(loaded.api_port) as sock:
        head = f"GET {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(smuggled) + 1000}\r\n\r\n"
        sock.sendall(head.encode() + smuggled)
        received = read_until_quiet(sock)
    assert received.startswith(b"HTTP/1.1 400") and received.count(b"HTTP/1.1 ") == 1, received
    assert f"GET {path} takes no request body".encode() in received


@pytest.fixture(scope="module")
def impatient(tmp_path_factory):
    proc = CollectorProcess(
        str(tmp_path_factory.mktemp("impatient")),
        "analysis.enabled=false",
        "api.read_timeout_seconds=1",
        "receivers.read_timeout_seconds=1",
        "api.max_reference_bytes=200000",
    ).start()
    yield proc
    proc.stop()
    proc.kill()


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``sock`` (an answer before it is read and dropped), or None."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < seconds:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except ConnectionError:
            return time.monotonic() - started
    return None


@pytest.mark.parametrize("listener", list(LISTENERS))
def test_a_silent_client_is_dropped_and_its_partial_body_never_stored(impatient, listener):
    port = port_of(impatient, listener)
    ctype = "application/json" if listener == "api" else "application/x-protobuf"
    body = (
        json.dumps({"model": "silent", "features": {"a": [1.0]}}).encode()
        if listener == "api"
        else make_requests(1, 2, service="silent")[0]
    )
    with connect(port) as idle, connect(port) as partial:
        # one connection says nothing at all, the other stops half way through its body
        partial.sendall(
            post_head(LISTENERS[listener], f"Content-Length: {len(body)}", content_type=ctype).encode()
            + body[: len(body) // 2]
        )
        assert closed_within(idle, 10) is not None
        assert closed_within(partial, 10) is not None
    assert impatient.get("/api/references?model=silent") == (200, {"references": []})
    assert impatient.count("otel_traces", "ServiceName = 'silent'") == 0


@pytest.mark.parametrize("announced", [1000, 60_000_000])
def test_a_trickling_client_does_not_hold_the_server(impatient, announced):
    # The time a body may take grows with what arrives, not with what is announced: a big
    # announced length buys a trickling client nothing.
    with connect(impatient.http_port) as sock:
        head = post_head("/v1/traces", f"Content-Length: {announced}", content_type="application/x-protobuf")
        sock.sendall(head.encode())
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 15 and not closed:
            try:
                sock.sendall(b"\x00")  # one byte every 0.2 s: never silent for a whole read timeout
            except ConnectionError:
                closed = True
                break
            closed = closed_within(sock, 0.2) is not None
        assert closed, "a client sending 5 bytes a second held the connection for 15 s"


def test_silent_clients_do_not_hold_the_ingest_slots(impatient):
    # more silent connections than the OTLP/HTTP receiver takes requests at once (16)
    socks = [connect(impatient.http_port) for _ in range(20)]
    try:
        for s in socks:
            s.sendall(post_head("/v1/traces", "Content-Length: 100", content_type="application/x-protobuf").encode())
        time.sleep(1.0)
        (body,) = make_requests(1, 2, service="after-silence")
        assert otlp_post(impatient, body)[0] == 200
    finally:
        for s in socks:
            s.close()
    impatient.wait_stored("otel_traces", 2, "ServiceName = 'after-silence'")


def test_reference_over_its_limit_says_how_to_upload_it(impatient):
    big = {"model": "big", "features": {f"f{i}": [float(j) for j in range(5000)] for i in range(10)}}
    status, raw, _ = request(impatient, "POST", "/api/references", json.dumps(big).encode())
    message = error_message(raw)
    assert status == 413 and "api.max_reference_bytes" in message and "per feature" in message, raw[:300]
    # the same reference, one feature per request, under one reference id
    reference_id = None
    for name, values in big["features"].items():
        part = {"model": "big", "features": {name: values}}
        if reference_id:
            part["reference_id"] = reference_id
        status, raw, _ = request(impatient, "POST", "/api/references", json.dumps(part).encode())
        assert status == 201, raw[:300]
        reference_id = json.loads(raw)["reference_id"]
    status, body = impatient.get("/api/references?model=big")
    assert status == 200 and len(body["references"]) == 1
    assert sorted(body["references"][0]["features"]) == sorted(f"input.f{i}" for i in range(10))
    status, raw, _ = request(
        impatient, "POST", "/api/references",
        json.dumps({"model": "other", "reference_id": reference_id, "features": {"x": [1]}}).encode(),
    )  # fmt: skip
    assert status == 404 and reference_id in error_message(raw), raw[:300]


def test_the_sdk_uploads_a_large_reference_in_parts(impatient):
    from modeltrace._internal.reference import upload_reference

    features = {f"f{i}": [float(j) for j in range(5000)] for i in range(10)}
    outputs = {"prediction": ["yes", "no", None] * 1000}
    fields = {"model": "parts", "version": "7", "source": "test"}
    reference_id = upload_reference(impatient.api, fields, {"features": features, "outputs": outputs}, 30, 100_000)
    status, body = impatient.get("/api/references?model=parts")
    assert status == 200 and [r["reference_id"] for r in body["references"]] == [reference_id]
    stored = body["references"][0]
    assert stored["version"] == "7" and stored["rows"] == 5000
    assert sorted(stored["features"]) == sorted([f"input.f{i}" for i in range(10)] + ["output.prediction"])

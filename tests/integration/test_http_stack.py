"""The HTTP listeners as clients other than Python's urllib use them: chunked bodies (the
OpenTelemetry JavaScript exporters' shape), many idle and slow connections, keep-alive,
headers that trickle in, gzip answers."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from tests.collector.spans import make_requests
from tests.integration.collector_proc import CollectorProcess

pytestmark = pytest.mark.slow
JS_EXPORTER = os.path.join(os.path.dirname(__file__), "js_exporter")


@pytest.fixture(scope="module")
def proc(tmp_path_factory):
    p = CollectorProcess(str(tmp_path_factory.mktemp("stack")), "analysis.enabled=false").start()
    yield p
    p.stop()
    p.kill()


def otlp_json(service: str, n: int, first: int = 1) -> bytes:
    """An OTLP/JSON request of ``n`` spans, ids in hex as the JSON encoding writes them."""
    spans = [
        {"traceId": f"{first + i:032x}", "spanId": f"{first + i:016x}", "name": "predict",
         "startTimeUnixNano": str(1_760_000_000 * 10**9 + i), "endTimeUnixNano": str(1_760_000_001 * 10**9 + i),
         "attributes": [{"key": "ml.model.name", "value": {"stringValue": "chunky"}}]}
        for i in range(n)
    ]  # fmt: skip
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}).encode()


def post_chunked(port: int, body: bytes, content_type: str, gzipped: bool = False, piece: int = 1000):
    """POST /v1/traces with ``Transfer-Encoding: chunked`` in pieces of ``piece`` bytes."""
    data = gzip.compress(body) if gzipped else body
    headers = {"Content-Type": content_type, "Transfer-Encoding": "chunked"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/v1/traces", body=(data[i : i + piece] for i in range(0, len(data), piece)),
                     headers=headers, encode_chunked=True)  # fmt: skip
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("kind", ["protobuf", "json"])
def test_chunked_bodies_are_stored(proc, kind, gzipped):
    service = f"chunked-{kind}-{'gz' if gzipped else 'plain'}"
    if kind == "protobuf":
        (body,) = make_requests(1, 40, service=service)
        content_type = "application/x-protobuf"
    else:
        body = otlp_json(service, 40, first=1000 + 100 * gzipped)
        content_type = "application/json"
    status, reply = post_chunked(proc.http_port, body, content_type, gzipped)
    assert status == 200, reply
    proc.wait_stored("otel_traces", 40, f"ServiceName = '{service}'")
    assert proc.count("otel_traces", f"ServiceName = '{service}'") == 40


def test_a_chunked_body_over_the_limit_is_refused_as_it_arrives(tmp_path):
    p = CollectorProcess(str(tmp_path / "c"), "analysis.enabled=false", "receivers.max_request_bytes=100000").start()
    try:
        (body,) = make_requests(1, 400, service="chunked-big")
        assert len(body) > 100_000
        status, reply = post_chunked(p.http_port, body, "application/x-protobuf", piece=8192)
        assert status == 413 and b"limit of 100000 bytes" in reply, reply
        assert p.count("otel_traces", "ServiceName = 'chunked-big'") == 0
    finally:
        p.stop()


def test_one_connection_carries_many_exports(proc):
    conn = http.client.HTTPConnection("127.0.0.1", proc.http_port, timeout=30)
    try:
        for i, body in enumerate(make_requests(5, 10, service="keepalive")):
            conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
            response = conn.getresponse()
            assert response.status == 200, (i, response.read())
            response.read()
        first_socket = conn.sock
        assert first_socket is not None  # http.client reconnects only after a close: it never did
    finally:
        conn.close()
    proc.wait_stored("otel_traces", 50, "ServiceName = 'keepalive'")


def test_api_answers_are_gzipped_for_clients_that_take_it(proc):
    conn = http.client.HTTPConnection("127.0.0.1", proc.api_port, timeout=30)
    try:
        conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        response = conn.getresponse()
        raw = response.read()
        assert response.status == 200 and response.getheader("Content-Encoding") == "gzip"
        assert b"modeltrace_spans_received_total" in gzip.decompress(raw)
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        assert response.getheader("Content-Encoding") is None and b"modeltrace_ready" in response.read()
    finally:
        conn.close()


def test_two_hundred_idle_and_slow_connections_do_not_hold_up_exports(proc):
    """100 connections that send nothing, 50 that trickle headers, 50 that announce a body and
    go quiet: every other client's export is still answered at once."""
    port = proc.http_port
    held: list[socket.socket] = []
    stop = threading.Event()

    def trickle(sock: socket.socket) -> None:
        head = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        for byte in head:
            if stop.wait(0.5):
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return

    try:
        for _ in range(100):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                      b"Content-Length: 1000\r\n\r\n\x0a")  # fmt: skip
            held.append(s)
        tricklers = []
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            held.append(s)
            tricklers.append(threading.Thread(target=trickle, args=(s,), daemon=True))
        for t in tricklers:
            t.start()
        time.sleep(1.0)
        latencies = []
        for body in make_requests(20, 5, service="beside-idle"):
            began = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
            response = conn.getresponse()
            assert response.status == 200, response.read()
            conn.close()
            latencies.append(time.monotonic() - began)
        # the 200 are still open: they were held while the exports went through
        still_open = 0
        for s in held:
            s.settimeout(0.01)
            try:
                still_open += s.recv(1) != b""
            except TimeoutError:
                still_open += 1
            except OSError:
                pass
        assert still_open == 200, still_open
        print(f"\n20 exports beside 200 held connections: slowest {max(latencies) * 1000:.0f} ms")
    finally:
        stop.set()
        for s in held:
            s.close()
    proc.wait_stored("otel_traces", 100, "ServiceName = 'beside-idle'")


@pytest.fixture(scope="module")
def impatient(tmp_path_factory):
    p = CollectorProcess(
        str(tmp_path_factory.mktemp("impatient")),
        "analysis.enabled=false", "api.read_timeout_seconds=1", "receivers.read_timeout_seconds=1",
    ).start()  # fmt: skip
    yield p
    p.stop()
    p.kill()


@pytest.mark.parametrize("listener", ["otlp", "api"])
def test_headers_trickling_in_are_cut_off_at_the_read_timeout(impatient, listener):
    port = impatient.http_port if listener == "otlp" else impatient.api_port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = b"GET /health HTTP/1.1\r\n" + b"X-Slow: " + b"a" * 200
        started = time.monotonic()
        closed_after = None
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
                sock.settimeout(0.1)
                if sock.recv(1) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                continue
            except OSError:
                closed_after = time.monotonic() - started
                break
        # a byte every 0.1 s never leaves the connection quiet, but its headers take too long
        assert closed_after is not None and closed_after < 5, closed_after


@pytest.mark.parametrize("listener", ["otlp", "api"])
def test_an_idle_keep_alive_connection_is_closed_after_the_read_timeout(impatient, listener):
    port, path = (impatient.api_port, "/health") if listener == "api" else (impatient.http_port, "/v1/traces")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        if listener == "api":
            conn.request("GET", path)
        else:
            (body,) = make_requests(1, 1, service="idle-after")
            conn.request("POST", path, body=body, headers={"Content-Type": "application/x-protobuf"})
        response = conn.getresponse()
        assert response.status == 200
        response.read()
        assert conn.sock is not None
        conn.sock.settimeout(5)
        began = time.monotonic()
        assert conn.sock.recv(1) == b""  # the server closed it
        assert time.monotonic() - began < 4
    finally:
        conn.close()


@pytest.fixture(scope="module")
def js_exporters(tmp_path_factory):
    """The OpenTelemetry JavaScript OTLP/HTTP exporters from npm, in a temporary directory."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.skip(
            "Node.js is not installed: the JavaScript exporters did not run (the chunked tests send their shape)"
        )
    directory = tmp_path_factory.mktemp("js")
    for name in ("package.json", "export.js"):
        shutil.copy(os.path.join(JS_EXPORTER, name), directory)
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=directory, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if done.returncode:
        pytest.skip(f"npm could not install the JavaScript exporters, which did not run: {done.stderr[-500:]}")
    return node, directory


@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("kind", ["proto", "json"])
def test_the_javascript_exporters_send_over_http(proc, js_exporters, kind, compression):
    node, directory = js_exporters
    service = f"js-{kind}-{compression}"
    done = subprocess.run(
        [node, "export.js", kind, proc.http_endpoint + "/v1/traces", service, "40", compression],
        cwd=directory, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    proc.wait_stored("otel_traces", 40, f"ServiceName = '{service}'")
    assert proc.count("otel_traces", f"ServiceName = '{service}'") == 40


def _raw_exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass
        out = b""
        while True:
            try:
                piece = sock.recv(65536)
            except OSError:
                return out
            if not piece:
                return out
            out += piece


def _export_ok(proc, service: str) -> None:
    (body,) = make_requests(1, 1, service=service)
    conn = http.client.HTTPConnection("127.0.0.1", proc.http_port, timeout=10)
    conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
    assert conn.getresponse().status == 200
    conn.close()


@pytest.mark.parametrize("shape", ["url", "one-header", "many-headers"])
def test_a_head_over_64_kib_is_refused_with_431(proc, shape):
    big = {
        "url": b"GET /health?" + b"a" * (70 << 10) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "one-header": b"GET /health HTTP/1.1\r\nX-Big: " + b"b" * (70 << 10) + b"\r\n\r\n",
        "many-headers": b"GET /health HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(12000)) + b"\r\n",
    }[shape]
    answer = _raw_exchange(proc.api_port, big)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"longer than 65536 bytes" in answer
    _export_ok(proc, "after-431")


def test_a_client_pipelining_without_reading_is_cut_off(proc):
    with socket.create_connection(("127.0.0.1", proc.api_port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 2000)  # never reads the answers
        sock.settimeout(10)
        got = b""
        try:
            while piece := sock.recv(65536):
                got += piece
        except OSError:
            pass
    # not two thousand answers: the connection ended once more than 32 waited behind the first
    assert got.count(b"HTTP/1.1 200") < 100, got.count(b"HTTP/1.1 200")
    _export_ok(proc, "after-pipeline")


def test_idle_connections_past_the_caps_give_way_to_new_clients(proc):
    """600 idle connections from one address (its cap is 512): a new export from it still goes
    through, the oldest idle ones being closed to make room."""
    held = [socket.create_connection(("127.0.0.1", proc.http_port), timeout=10) for _ in range(600)]
    try:
        time.sleep(0.5)
        for i in range(5):
            _export_ok(proc, f"beside-flood-{i}")
        closed = 0
        for s in held:
            s.settimeout(0.01)
            try:
                closed += s.recv(1) == b""
            except TimeoutError:
                pass
            except OSError:
                closed += 1
        assert closed >= 600 - 512, closed  # the oldest idle ones went first
    finally:
        for s in held:
            s.close()


def test_a_transfer_coding_other_than_chunked_is_not_implemented(proc):
    head = (b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Transfer-Encoding: gzip, chunked\r\n\r\n")  # fmt: skip
    answer = _raw_exchange(proc.http_port, head + b"0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 501 "), answer[:200]


def test_a_body_that_goes_quiet_is_dropped_at_the_read_timeout(impatient):
    with socket.create_connection(("127.0.0.1", impatient.http_port), timeout=30) as sock:
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                     b"Content-Length: 3000000\r\n\r\n" + b"\x0a" * 2_000_000)  # fmt: skip
        began = time.monotonic()
        answer = sock.recv(4096)
        waited = time.monotonic() - began
    # the read timeout is 1 s: the 2 MB sent earn no extra silence (the deadline for the whole
    # body grows with its bytes, but no single wait outlasts the read timeout)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert waited < 10, waited


def test_a_request_of_empty_messages_is_refused_before_it_is_walked(proc):
    # 4 MiB of empty resource groups: two million of them, no span
    body = b"\x0a\x00" * (2 << 20)
    conn = http.client.HTTPConnection("127.0.0.1", proc.http_port, timeout=60)
    conn.request("POST", "/v1/traces", body=gzip.compress(body), headers={
        "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})  # fmt: skip
    response = conn.getresponse()
    assert response.status == 400
    assert b"resource and scope groups" in response.read()
    conn.close()
    _export_ok(proc, "after-empties")

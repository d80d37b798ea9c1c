"""API keys and scopes on every listener, with real clients: the OpenTelemetry Python
exporters (gRPC and HTTP) with headers, grpcio with metadata for Jaeger's storage API, an
HTTP client for the API and the Jaeger HTTP routes, and the CLI with ``MODELTRACE_TOKEN``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from modeltrace_collector.proto_gen.jaeger.storage.v2 import trace_storage_pb2, trace_storage_pb2_grpc
from tests.integration.collector_proc import ROOT, CollectorProcess
from tests.integration.test_tls import spans
from tests.otlp_receiver import free_port

pytestmark = pytest.mark.slow


def cli(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELTRACE_")}
    env["PYTHONPATH"] = ROOT
    if token:
        env["MODELTRACE_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "modeltrace_collector", *args], capture_output=True, text=True, env=env, timeout=120
    )


def create_key(data_dir: str, name: str, *scopes: str) -> dict:
    args = ["keys", "create", "--data-dir", data_dir, "--name", name, "--json"]
    for scope in scopes:
        args += ["--scope", scope]
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("auth") / "c")
    tokens = {name: create_key(data_dir, name, *scopes)["token"]
              for name, scopes in (("ingest", ["ingest"]), ("read", ["read"]), ("admin", ["admin"]))}  # fmt: skip
    configured = "ingest+read:deploy-token-0123456789"
    proc = CollectorProcess(
        data_dir, "analysis.enabled=false", f"auth.tokens={configured}", token=tokens["read"]
    ).start()
    proc.tokens = tokens  # type: ignore[attr-defined]
    yield proc
    proc.stop()


def grpc_export(proc, token: str | None, service: str) -> SpanExportResult:
    headers = {"authorization": f"Bearer {token}"} if token else None
    exporter = GrpcExporter(endpoint=f"127.0.0.1:{proc.grpc_port}", insecure=True, headers=headers, timeout=5)
    return exporter.export(spans(service))


def http_export(proc, token: str | None, service: str) -> SpanExportResult:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    exporter = HttpExporter(endpoint=f"{proc.http_endpoint}/v1/traces", headers=headers, timeout=5)
    return exporter.export(spans(service))


EXPORTS = {"grpc": grpc_export, "http": http_export}


@pytest.mark.parametrize("protocol", list(EXPORTS))
def test_otlp_takes_an_ingest_token_and_nothing_else(keyed, protocol):
    tokens = keyed.tokens
    for case, token in (
        ("none", None),
        ("wrong", "mt_not-a-key"),
        ("read", tokens["read"]),
        ("admin", tokens["admin"]),
    ):
        service = f"auth-{protocol}-{case}"
        started = time.monotonic()
        assert EXPORTS[protocol](keyed, token, service) == SpanExportResult.FAILURE, case
        # 401/403 and UNAUTHENTICATED/PERMISSION_DENIED are not retried: the exporter gives up at once
        assert time.monotonic() - started < 3, case
    for case, token in (("ingest", tokens["ingest"]), ("configured", "deploy-token-0123456789")):
        service = f"auth-{protocol}-{case}"
        assert EXPORTS[protocol](keyed, token, service) == SpanExportResult.SUCCESS, case
        keyed.wait_stored("otel_traces", 3, f"ServiceName = '{service}'")
    for case in ("none", "wrong", "read", "admin"):
        assert keyed.count("otel_traces", f"ServiceName = 'auth-{protocol}-{case}'") == 0


def raw_otlp_http(proc, token: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{proc.http_endpoint}/v1/traces", data=b"{}", headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, {"body": exc.read().decode(), **dict(exc.headers)}


def test_otlp_http_statuses(keyed):
    status, headers = raw_otlp_http(keyed, None)
    assert status == 401 and headers.get("www-authenticate") == "Bearer" and "Bearer" in headers["body"]
    status, headers = raw_otlp_http(keyed, keyed.tokens["read"])
    assert status == 403 and "'ingest' scope" in headers["body"]
    assert raw_otlp_http(keyed, keyed.tokens["ingest"])[0] == 200


def api(proc, path: str, token: str | None, body: bytes | None = None) -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(proc.api + path, data=body, headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_api_routes_need_their_scope(keyed):
    tokens = keyed.tokens
    for path in ("/health", "/ready"):
        assert api(keyed, path, None) in (200, 503)  # probes answer without a token
    for path in ("/metrics", "/api/models", "/jaeger/api/services"):
        assert api(keyed, path, None) == 401, path
        assert api(keyed, path, "mt_unknown") == 401, path
        assert api(keyed, path, tokens["ingest"]) == 403, path
        assert api(keyed, path, tokens["read"]) == 200, path
        assert api(keyed, path, tokens["admin"]) == 200, path  # admin includes read
    reference = json.dumps({"model": "authz", "features": {"a": [1.0, 2.0]}}).encode()
    assert api(keyed, "/api/references", tokens["read"], reference) == 403
    assert api(keyed, "/api/references", tokens["admin"], reference) == 201
    sql = json.dumps({"query": "SELECT 1"}).encode()
    assert api(keyed, "/api/sql", None, sql) == 401
    assert api(keyed, "/api/sql", tokens["read"], sql) == 200


def test_jaeger_grpc_needs_a_read_token(keyed):
    channel = grpc.insecure_channel(f"127.0.0.1:{keyed.jaeger_port}")
    try:
        call = trace_storage_pb2_grpc.TraceReaderStub(channel).GetServices
        request = trace_storage_pb2.GetServicesRequest()
        for token, code in ((None, grpc.StatusCode.UNAUTHENTICATED), ("mt_unknown", grpc.StatusCode.UNAUTHENTICATED),
                            (keyed.tokens["ingest"], grpc.StatusCode.PERMISSION_DENIED)):  # fmt: skip
            metadata = (("authorization", f"Bearer {token}"),) if token else None
            with pytest.raises(grpc.RpcError) as info:
                call(request, metadata=metadata, timeout=10)
            assert info.value.code() == code
        call(request, metadata=(("authorization", f"Bearer {keyed.tokens['read']}"),), timeout=10)
        # a streaming call is refused the same way
        find = trace_storage_pb2_grpc.TraceReaderStub(channel).FindTraces
        with pytest.raises(grpc.RpcError) as info:
            list(find(trace_storage_pb2.FindTracesRequest(query=trace_storage_pb2.TraceQueryParameters()), timeout=10))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        channel.close()


def test_the_cli_sends_modeltrace_token(keyed):
    done = cli("models", "--api-url", keyed.api, "--json")
    assert done.returncode != 0 and "authentication required" in done.stderr
    done = cli("models", "--api-url", keyed.api, "--json", token=keyed.tokens["read"])
    assert done.returncode == 0, done.stderr


def test_keys_are_stored_as_digests_listed_and_revoked_at_once(keyed):
    key = create_key(keyed.data_dir, "short-lived", "read")
    with open(os.path.join(keyed.data_dir, "auth", "keys.json"), encoding="utf-8") as f:
        stored = f.read()
    assert key["token"] not in stored and all(t not in stored for t in keyed.tokens.values())
    listed = json.loads(cli("keys", "list", "--data-dir", keyed.data_dir, "--json").stdout)
    assert {"short-lived", "ingest", "read", "admin"} <= {k["name"] for k in listed}
    assert "token" not in listed[0] and "hash" not in listed[0]
    keyed.wait_until(lambda: api(keyed, "/api/models", key["token"]) == 200, 10, "the new key to be taken")
    assert cli("keys", "revoke", key["id"], "--data-dir", keyed.data_dir).returncode == 0
    keyed.wait_until(lambda: api(keyed, "/api/models", key["token"]) == 401, 10, "the revoked key to be refused")
    assert cli("keys", "revoke", "nope", "--data-dir", keyed.data_dir).returncode == 1


def test_check_config_does_not_print_tokens(tmp_path):
    done = cli(
        "collector", "check-config", "--set", "auth.tokens=ingest:very-secret-token", "--data-dir", str(tmp_path)
    )
    assert done.returncode == 0 and "very-secret-token" not in done.stdout and "auth.tokens = (set" in done.stdout
    for tokens, message in (("ingest:a-long-enough-token bogus", "SCOPE[+SCOPE]:TOKEN"), ("ingest:short", "16"),
                            ("write:a-long-enough-token", "scopes must be among")):  # fmt: skip
        done = cli("collector", "check-config", "--set", f"auth.tokens={tokens}", "--data-dir", str(tmp_path))
        assert done.returncode == 2 and message in done.stderr, done.stderr


def test_without_keys_no_token_is_asked(tmp_path):
    proc = CollectorProcess(str(tmp_path / "open"), "analysis.enabled=false").start()
    try:
        assert grpc_export(proc, None, "open-grpc") == SpanExportResult.SUCCESS
        assert api(proc, "/api/models", None) == 200
    finally:
        proc.stop()


def test_a_listener_beyond_loopback_without_keys_is_refused(tmp_path):
    # the collector exits before it binds anything
    done = cli("collector", "run", "--data-dir", str(tmp_path / "exposed"), "--grpc", "0.0.0.0:4317",
               "--set", "analysis.enabled=false")  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "receivers.grpc = 0.0.0.0:4317" in done.stderr and "modeltrace keys create" in done.stderr
    assert "--insecure-no-auth" in done.stderr and "127.0.0.1" in done.stderr


def authenticate(tmp_path, insecure: bool, *settings: str):
    """Collector._authenticate on a configuration, without binding anything."""
    from types import SimpleNamespace

    from modeltrace_collector.config import load
    from modeltrace_collector.service import Collector

    overrides = dict(s.split("=", 1) for s in settings)
    config = load(environ={}, overrides={"data_dir": str(tmp_path), **overrides})
    collector = SimpleNamespace(config=config, insecure_no_auth=insecure, auth=None)
    Collector._authenticate(collector)  # type: ignore[arg-type]
    return collector.auth


def test_insecure_no_auth_is_explicit_and_logged(tmp_path, caplog):
    from modeltrace_collector.auth import Exposed

    with pytest.raises(Exposed):
        authenticate(tmp_path, False, "api.listen=0.0.0.0:8080")
    with caplog.at_level("WARNING"):
        auth = authenticate(tmp_path, True, "api.listen=0.0.0.0:8080")
    assert "--insecure-no-auth: api.listen = 0.0.0.0:8080 accept anyone" in caplog.text
    auth.check(None, "read")  # open, as asked
    # loopback and an explicit [::1] need nothing
    authenticate(tmp_path, False, "api.listen=[::1]:8080", "receivers.grpc=localhost:4317")


def test_with_an_exposed_listener_revoking_the_last_key_locks_rather_than_opens(tmp_path):
    from modeltrace_collector.auth import AuthError

    key = create_key(str(tmp_path), "only", "read")
    auth = authenticate(tmp_path, False, "receivers.http=0.0.0.0:4318")
    auth.check(f"Bearer {key['token']}", "read")
    assert cli("keys", "revoke", key["id"], "--data-dir", str(tmp_path)).returncode == 0
    time.sleep(1.1)  # keys are re-read at most once a second
    with pytest.raises(AuthError, match="no API key exists"):
        auth.check(None, "read")


def test_calls_without_a_token_that_never_send_their_message_hold_no_worker(keyed):
    """The gRPC servers have 8 worker threads: 12 calls without a token that send headers and
    then nothing are refused at once; 12 with a token wait for their message without holding a
    worker, and another client is served beside them."""
    channel = grpc.insecure_channel(f"127.0.0.1:{keyed.grpc_port}")
    export = channel.stream_unary(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        request_serializer=lambda b: b, response_deserializer=lambda b: b,
    )  # fmt: skip
    silent = threading.Event()

    def nothing():
        silent.wait(60)  # the message never comes (until the test ends)
        return
        yield

    try:
        calls = [export.future(nothing()) for _ in range(12)]
        codes = [c.exception(timeout=10).code() for c in calls]
        assert codes == [grpc.StatusCode.UNAUTHENTICATED] * 12
        # with the token: the calls wait for their message, and hold no worker while they do
        waiting = [export.future(nothing(), metadata=(("authorization", f"Bearer {keyed.tokens['ingest']}"),))
                   for _ in range(12)]  # fmt: skip
        time.sleep(0.5)
        assert not any(c.done() for c in waiting)
        service = "beside-silent-calls"
        assert EXPORTS["grpc"](keyed, keyed.tokens["ingest"], service) == SpanExportResult.SUCCESS
        keyed.wait_stored("otel_traces", 3, f"ServiceName = '{service}'")
        for c in waiting:
            c.cancel()
    finally:
        silent.set()
        channel.close()


def test_a_hash_inside_a_configured_token_is_part_of_it(tmp_path):
    from modeltrace_collector.auth import digest, parse_tokens

    parsed = parse_tokens("# deploy tokens\nadmin:Sup3rS3cretPrefix#Xk9Qz7 read:another-token-0123456789\n", "t")
    assert parsed == {digest("Sup3rS3cretPrefix#Xk9Qz7"): ["admin"], digest("another-token-0123456789"): ["read"]}
    with pytest.raises(ValueError) as info:
        parse_tokens("read:another-token-0123456789\nsecretsecret-not-an-entry", "t")
    assert str(info.value) == "t: line 2: expected SCOPE[+SCOPE]:TOKEN"  # never what may be a token


@pytest.mark.parametrize(("flag", "setting"), [("--grpc", "receivers.grpc"), ("--http", "receivers.http"),
                                               ("--api", "api.listen"), ("--jaeger-grpc", "jaeger.grpc")])  # fmt: skip
def test_a_port_in_use_is_named_with_its_setting(tmp_path, flag, setting):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        # the other listeners on free ports: the machine's 4317 or 8080 may be taken by something else
        others = [
            arg
            for other in ("--grpc", "--http", "--api", "--jaeger-grpc")
            if other != flag
            for arg in (other, f"127.0.0.1:{free_port()}")
        ]
        done = cli(
            "collector", "run", "--data-dir", str(tmp_path / "c"), flag, address, *others,
            "--set", "analysis.enabled=false",
        )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("modeltrace: cannot listen for ") and f"on {address} ({setting}, {flag}): " in last, last

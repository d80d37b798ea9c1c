"""The listener matrix: each listener of the collector against each way a client can come to
it, with real clients and real collector processes.

The listeners and their clients: OTLP gRPC (the OpenTelemetry gRPC exporter, with headers and
channel credentials), OTLP HTTP (the OpenTelemetry HTTP exporter, with headers and certificate
files), the JSON API on a reading route and on an admin one (urllib), Jaeger's gRPC storage
API (grpcio with metadata and SSL credentials), the Jaeger HTTP routes (urllib), and the CLI on
a reading and on an admin command (``MODELTRACE_TOKEN``, ``MODELTRACE_CA_FILE``,
``MODELTRACE_CLIENT_CERT_FILE``, ``MODELTRACE_CLIENT_KEY_FILE``).

Three collectors serve the whole matrix: one on loopback without keys or TLS, one with keys
and TLS on every listener, one with the same keys and mTLS on every listener. Each stores a
known trace when it starts, so that a reading client's success shows it read stored data; an
OTLP client's success is the spans it sent, found in the store.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc import exporter as grpc_exporter_module
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from modeltrace_collector.proto_gen.jaeger.storage.v2 import trace_storage_pb2, trace_storage_pb2_grpc
from tests.collector.spans import make_requests
from tests.integration import test_tls
from tests.integration.collector_proc import ROOT, CollectorProcess
from tests.integration.test_auth import create_key
from tests.integration.test_tls import client_context, read, spans, tls_settings

pytestmark = pytest.mark.slow

# test_tls's fixtures, fixtures of this module too: the development certificates (skipped
# without openssl), and no CA bundle from the environment for the HTTP exporter
certs = test_tls.certs
no_ca_bundle_from_the_environment = test_tls.no_ca_bundle_from_the_environment

SEED_SERVICE = "matrix-seed"
SEED_MODEL = "fraud"  # the model of tests.collector.spans.make_requests
EXPORT_TIMEOUT = 3  # seconds: exporters retry UNAVAILABLE and lost connections until then

# What a client meets
OK = "ok"
UNAUTHENTICATED = "401 / UNAUTHENTICATED"
PERMISSION_DENIED = "403 / PERMISSION_DENIED"
HUNG_UP = "the server hangs up at the TLS layer, without an answer"
BEARER = "Authorization: Bearer <token>"


@dataclass(frozen=True)
class Case:
    collector: str  # the fixture of the collector it meets
    tls: bool  # the client speaks TLS, trusting the development CA
    client_cert: bool  # and presents the client certificate that CA signed
    token: str | None  # "right" (the listener's scope), "wrong" (another scope) or None
    expected: str


# The token cases meet the collector with keys and TLS, as a TLS client that trusts its CA.
CASES = {
    "no-auth-loopback": Case("open_collector", tls=False, client_cert=False, token=None, expected=OK),
    "valid-token": Case("tls_collector", tls=True, client_cert=False, token="right", expected=OK),
    "missing-token": Case("tls_collector", tls=True, client_cert=False, token=None, expected=UNAUTHENTICATED),
    "wrong-scope": Case("tls_collector", tls=True, client_cert=False, token="wrong", expected=PERMISSION_DENIED),
    # a plaintext client, with the right token, on a TLS listener
    "tls-plaintext-client": Case("tls_collector", tls=False, client_cert=False, token="right", expected=HUNG_UP),
    "mtls-client-cert": Case("mtls_collector", tls=True, client_cert=True, token="right", expected=OK),
    # a client certificate is no credential: the token is asked all the same
    "mtls-cert-no-token": Case("mtls_collector", tls=True, client_cert=True, token=None, expected=UNAUTHENTICATED),
    # and the right token does not make up for a missing certificate
    "mtls-no-client-cert": Case("mtls_collector", tls=True, client_cert=False, token="right", expected=HUNG_UP),
}


@dataclass(frozen=True)
class Client:
    """How one row's client reaches its collector."""

    proc: CollectorProcess
    certs: dict[str, str]  # empty for the collector without TLS
    tls: bool
    client_cert: bool
    token: str | None
    scope: str  # the scope the listener asks for: what a 403 names

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def api(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.proc.api_port}"

    def context(self) -> ssl.SSLContext | None:
        return client_context(self.certs, self.client_cert) if self.tls else None

    def grpc_credentials(self) -> grpc.ChannelCredentials:
        key, chain = (read(self.certs["client-key"]), read(self.certs["client"])) if self.client_cert else (None, None)
        return grpc.ssl_channel_credentials(read(self.certs["ca"]), key, chain)

    def bearer(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"} if self.token else {}


# -- the collectors -------------------------------------------------------------------------


def seed(client: Client) -> None:
    """Store three predict spans of SEED_SERVICE (model SEED_MODEL) through OTLP/HTTP."""
    (body,) = make_requests(1, 3, service=SEED_SERVICE)
    url = f"{client.scheme}://127.0.0.1:{client.proc.http_port}/v1/traces"
    request = urllib.request.Request(url, body, {"Content-Type": "application/x-protobuf", **client.bearer()})
    with urllib.request.urlopen(request, timeout=30, context=client.context()) as r:
        assert r.status == 200
    client.proc.wait_stored("ml_predictions", 3, f"ServiceName = '{SEED_SERVICE}'")


@pytest.fixture(scope="module")
def open_collector(tmp_path_factory):
    proc = CollectorProcess(str(tmp_path_factory.mktemp("open")), "analysis.enabled=false").start()
    try:
        seed(Client(proc, {}, tls=False, client_cert=False, token=None, scope="ingest"))
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    """A key per scope, made by ``modeltrace keys create``, and the keys.json both keyed collectors take."""
    data_dir = str(tmp_path_factory.mktemp("keys"))
    made = {scope: create_key(data_dir, f"matrix-{scope}", scope)["token"] for scope in ("ingest", "read", "admin")}
    made["keys.json"] = os.path.join(data_dir, "auth", "keys.json")
    return made


def keyed_collector(tmp_path_factory, certs: dict[str, str], tokens: dict[str, str], mutual: bool):
    data_dir = str(tmp_path_factory.mktemp("mtls" if mutual else "tls"))
    os.makedirs(os.path.join(data_dir, "auth"), mode=0o700)
    shutil.copy(tokens["keys.json"], os.path.join(data_dir, "auth", "keys.json"))
    proc = CollectorProcess(
        data_dir, "analysis.enabled=false", *tls_settings(certs, mutual),
        context=client_context(certs, with_cert=mutual), token=tokens["admin"],  # admin includes read: SQL
    ).start()  # fmt: skip
    try:
        seed(Client(proc, certs, tls=True, client_cert=mutual, token=tokens["ingest"], scope="ingest"))
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def tls_collector(tmp_path_factory, certs, tokens):
    yield from keyed_collector(tmp_path_factory, certs, tokens, mutual=False)


@pytest.fixture(scope="module")
def mtls_collector(tmp_path_factory, certs, tokens):
    yield from keyed_collector(tmp_path_factory, certs, tokens, mutual=True)


# -- the listeners, each with its client ------------------------------------------------------
# Each returns what its client met: OK, UNAUTHENTICATED, PERMISSION_DENIED or HUNG_UP when the
# evidence says exactly that, and a description of the evidence otherwise.


def exporter_outcome(
    result: SpanExportResult, client: Client, service: str, log: str, refusals: dict[str, list[str]]
) -> str:
    """An OpenTelemetry exporter's: OK when its spans are stored; a refusal when nothing was
    stored and the exporter's log holds that refusal's evidence and no other's."""
    if result == SpanExportResult.SUCCESS:
        client.proc.wait_stored("otel_traces", 3, f"ServiceName = '{service}'")
        return OK
    stored = client.proc.count("otel_traces", f"ServiceName = '{service}'")
    found = [outcome for outcome, evidence in refusals.items() if any(e in log for e in evidence)]
    if stored == 0 and len(found) == 1:
        return found[0]
    return f"{result}, {stored} span(s) stored, exporter log: {log}"


def otlp_grpc(client: Client, service: str, log: Callable[[], str]) -> str:
    exporter = GrpcExporter(
        endpoint=f"127.0.0.1:{client.proc.grpc_port}", insecure=not client.tls,
        credentials=client.grpc_credentials() if client.tls else None, headers=client.bearer() or None,
        timeout=EXPORT_TIMEOUT,
    )  # fmt: skip
    try:
        result = exporter.export(spans(service))
    finally:
        exporter.shutdown()
    address = f"127.0.0.1:{client.proc.grpc_port}"
    failed = f"Failed to export traces to {address}, error code: StatusCode."
    return exporter_outcome(result, client, service, log(), {
        UNAUTHENTICATED: [failed + "UNAUTHENTICATED, error details: authentication required: send Authorization"],
        PERMISSION_DENIED: [failed + f"PERMISSION_DENIED, error details: this token lacks the '{client.scope}' scope"],
        HUNG_UP: [failed + f"UNAVAILABLE, error details: failed to connect to all addresses; last error: "
                  f"UNAVAILABLE: ipv4:{address}: Socket closed"],
    })  # fmt: skip


def otlp_http(client: Client, service: str, log: Callable[[], str]) -> str:
    exporter = HttpExporter(
        endpoint=f"{client.scheme}://127.0.0.1:{client.proc.http_port}/v1/traces", headers=client.bearer() or None,
        certificate_file=client.certs["ca"] if client.tls else None,
        client_certificate_file=client.certs["client"] if client.client_cert else None,
        client_key_file=client.certs["client-key"] if client.client_cert else None, timeout=EXPORT_TIMEOUT,
    )  # fmt: skip
    try:
        result = exporter.export(spans(service))
    finally:
        exporter.shutdown()
    # The server closes the connection without a word. A client meets that when it reads the
    # status line, or, over TLS, already while it writes its body: with TLS 1.3 the server
    # judges the client's certificate only after the client has finished its handshake, and
    # this exporter's POST, unlike the bodyless requests of the other clients, has a body.
    hung_up = ["Transient error ('Connection aborted.', RemoteDisconnected('Remote end closed connection without"]
    if client.tls:
        hung_up.append("(Caused by SSLError(SSLEOFError(8, 'EOF occurred in violation of protocol")
    return exporter_outcome(result, client, service, log(), {
        UNAUTHENTICATED: ["Failed to export spans batch code: 401, reason: Unauthorized"],
        PERMISSION_DENIED: ["Failed to export spans batch code: 403, reason: Forbidden"],
        HUNG_UP: hung_up,
    })  # fmt: skip


def http_outcome(client: Client, request: urllib.request.Request, ok: Callable[[Any], bool]) -> str:
    """An HTTP client's: OK when the answer's body passes ``ok``; 401 and 403 with the
    collector's challenge and reasons; HUNG_UP when the connection closed before any answer."""
    for name, value in client.bearer().items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30, context=client.context()) as r:
            status, headers, body = r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, exc.headers, json.loads(exc.read())
    except http.client.RemoteDisconnected:
        return HUNG_UP
    if status == 200 and ok(body):
        return OK
    error = body.get("error") if isinstance(body, dict) else None
    challenge = headers.get("WWW-Authenticate")
    if status == 401 and challenge == "Bearer" and error == f"authentication required: send {BEARER}":
        return UNAUTHENTICATED
    if status == 403 and error and error.startswith(f"this token lacks the '{client.scope}' scope"):
        return PERMISSION_DENIED
    return f"HTTP {status}, WWW-Authenticate {challenge}: {body}"


def models_answer(body: Any) -> bool:
    return SEED_MODEL in {m["model"] for m in body["models"]}


def analysis_answer(body: Any) -> bool:
    return isinstance(body["opened"], list) and isinstance(body["resolved"], list) and body["at_ms"] > 0


def api(client: Client, service: str, log: Callable[[], str]) -> str:
    return http_outcome(client, urllib.request.Request(client.api + "/api/models"), models_answer)


def api_admin(client: Client, service: str, log: Callable[[], str]) -> str:
    request = urllib.request.Request(
        client.api + "/api/analysis/run", data=b"", method="POST", headers={"Content-Type": "application/json"}
    )
    return http_outcome(client, request, analysis_answer)


def jaeger_http(client: Client, service: str, log: Callable[[], str]) -> str:
    request = urllib.request.Request(client.api + "/jaeger/api/services")
    return http_outcome(client, request, lambda body: SEED_SERVICE in body["data"])


def jaeger_grpc(client: Client, service: str, log: Callable[[], str]) -> str:
    address = f"127.0.0.1:{client.proc.jaeger_port}"
    channel = grpc.secure_channel(address, client.grpc_credentials()) if client.tls else grpc.insecure_channel(address)
    try:
        answer = trace_storage_pb2_grpc.TraceReaderStub(channel).GetServices(
            trace_storage_pb2.GetServicesRequest(), metadata=tuple(client.bearer().items()) or None, timeout=10
        )
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details()
        if code == grpc.StatusCode.UNAUTHENTICATED and details.startswith("authentication required"):
            return UNAUTHENTICATED
        if code == grpc.StatusCode.PERMISSION_DENIED and details.startswith(f"this token lacks the '{client.scope}'"):
            return PERMISSION_DENIED
        if code == grpc.StatusCode.UNAVAILABLE and details.endswith(f"ipv4:{address}: Socket closed"):
            return HUNG_UP
        return f"{code}: {details}"
    finally:
        channel.close()
    return OK if SEED_SERVICE in answer.services else f"services {list(answer.services)}"


def cli_outcome(client: Client, command: str, ok: Callable[[Any], bool]) -> str:
    """The CLI's: OK when it prints an answer that passes ``ok``; the collector's reason for a
    refusal, or the message for a collector it cannot reach, on stderr and exit status 1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELTRACE_")}
    env["PYTHONPATH"] = ROOT
    if client.token:
        env["MODELTRACE_TOKEN"] = client.token
    if client.tls:
        env["MODELTRACE_CA_FILE"] = client.certs["ca"]
    if client.client_cert:
        env["MODELTRACE_CLIENT_CERT_FILE"] = client.certs["client"]
        env["MODELTRACE_CLIENT_KEY_FILE"] = client.certs["client-key"]
    argv = [sys.executable, "-m", "modeltrace_collector", command, "--api-url", client.api, "--json"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    if done.returncode == 0 and ok(json.loads(done.stdout)):
        return OK
    if done.returncode == 1 and not done.stdout and "Traceback" not in done.stderr:
        if done.stderr == f"modeltrace: authentication required: send {BEARER}\n":
            return UNAUTHENTICATED
        if done.stderr.startswith(f"modeltrace: this token lacks the '{client.scope}' scope"):
            return PERMISSION_DENIED
        if done.stderr.startswith(f"modeltrace: the collector API at {client.api}/") and (
            "closed the connection without answering" in done.stderr
        ):
            return HUNG_UP
    return f"exit status {done.returncode}, stdout {done.stdout[-1000:]!r}, stderr {done.stderr[-2000:]!r}"


def cli(client: Client, service: str, log: Callable[[], str]) -> str:
    return cli_outcome(client, "models", models_answer)


def cli_admin(client: Client, service: str, log: Callable[[], str]) -> str:
    return cli_outcome(client, "analyze", analysis_answer)


@dataclass(frozen=True)
class Listener:
    attempt: Callable[[Client, str, Callable[[], str]], str]
    scope: str  # what it asks for
    wrong: str  # a scope that is not enough


LISTENERS = {
    "otlp-grpc": Listener(otlp_grpc, "ingest", "read"),
    "otlp-http": Listener(otlp_http, "ingest", "admin"),  # admin is no superset of ingest
    "api": Listener(api, "read", "ingest"),  # GET /api/models
    "api-admin": Listener(api_admin, "admin", "read"),  # POST /api/analysis/run
    "jaeger-grpc": Listener(jaeger_grpc, "read", "ingest"),  # TraceReader.GetServices
    "jaeger-http": Listener(jaeger_http, "read", "ingest"),  # GET /jaeger/api/services
    "cli": Listener(cli, "read", "ingest"),  # modeltrace models
    "cli-admin": Listener(cli_admin, "admin", "read"),  # modeltrace analyze
}

ROWS = [pytest.param(listener, case, id=f"{listener}-{case}") for listener in LISTENERS for case in CASES]


@pytest.fixture
def exporter_log(caplog, monkeypatch):
    """The OTLP exporters' log, where they tell why an export failed. The gRPC exporter's logger
    drops a message with the same format as the one before it for 20 s: each row reads its own."""
    monkeypatch.setattr(grpc_exporter_module.logger, "filters", [])
    caplog.set_level(logging.WARNING, logger="opentelemetry.exporter")
    return lambda: caplog.text


@pytest.mark.parametrize(("listener", "case_name"), ROWS)
def test_listener_matrix(request, exporter_log, listener, case_name):
    case, spec = CASES[case_name], LISTENERS[listener]
    proc = request.getfixturevalue(case.collector)
    keyed = case.collector != "open_collector"
    tokens, certs = (request.getfixturevalue("tokens"), request.getfixturevalue("certs")) if keyed else ({}, {})
    token = {"right": tokens.get(spec.scope), "wrong": tokens.get(spec.wrong), None: None}[case.token]
    client = Client(proc, certs, case.tls, case.client_cert, token, spec.scope)
    outcome = spec.attempt(client, f"matrix-{listener}-{case_name}", exporter_log)
    assert outcome == case.expected

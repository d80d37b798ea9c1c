"""TLS and mTLS on every listener, with real clients: the OpenTelemetry Python exporters (gRPC
and HTTP) with certificates, grpcio with SSL credentials for Jaeger's storage API, and an
HTTPS client for the API. Certificates come from ``deploy/tls/make-dev-certs.sh``."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from modeltrace_collector.proto_gen.jaeger.storage.v2 import trace_storage_pb2, trace_storage_pb2_grpc
from tests.integration.collector_proc import ROOT, CollectorProcess

pytestmark = pytest.mark.slow
SCRIPT = os.path.join(ROOT, "deploy", "tls", "make-dev-certs.sh")
SECTIONS = ("receivers", "api", "jaeger")


@pytest.fixture(autouse=True)
def no_ca_bundle_from_the_environment(monkeypatch):
    # requests prefers REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE to the exporter's certificate_file
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificates, the TLS listeners were not tried")
    directory = tmp_path_factory.mktemp("certs")
    subprocess.run(["sh", SCRIPT, str(directory), "collector"], check=True, capture_output=True, timeout=120)
    return {name: str(directory / f"{name}.pem") for name in ("ca", "server", "server-key", "client", "client-key")}


def tls_settings(certs: dict[str, str], mutual: bool) -> list[str]:
    out = []
    for section in SECTIONS:
        out += [f"{section}.tls_cert_file={certs['server']}", f"{section}.tls_key_file={certs['server-key']}"]
        if mutual:
            out.append(f"{section}.tls_client_ca_file={certs['ca']}")
    return out


def client_context(certs: dict[str, str], with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certs["ca"])
    if with_cert:
        context.load_cert_chain(certs["client"], certs["client-key"])
    return context


def start(tmp_path_factory, certs, mutual):
    proc = CollectorProcess(
        str(tmp_path_factory.mktemp("mtls" if mutual else "tls")), "analysis.enabled=false",
        *tls_settings(certs, mutual), context=client_context(certs, with_cert=mutual),
    )  # fmt: skip
    return proc.start()


@pytest.fixture(scope="module")
def tls(tmp_path_factory, certs):
    proc = start(tmp_path_factory, certs, mutual=False)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def mtls(tmp_path_factory, certs):
    proc = start(tmp_path_factory, certs, mutual=True)
    yield proc
    proc.stop()


def spans(service: str, n: int = 3):
    """``n`` finished spans of ``service``, ready for an exporter."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tls-test")
    for _ in range(n):
        tracer.start_span("predict", attributes={"ml.model.name": "tls"}).end()
    provider.shutdown()
    return memory.get_finished_spans()


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def grpc_exporter(proc, certs, client_cert: bool, secure: bool = True) -> GrpcExporter:
    endpoint = f"127.0.0.1:{proc.grpc_port}"
    if not secure:
        return GrpcExporter(endpoint=endpoint, insecure=True, timeout=3)
    credentials = grpc.ssl_channel_credentials(
        read(certs["ca"]),
        read(certs["client-key"]) if client_cert else None,
        read(certs["client"]) if client_cert else None,
    )
    return GrpcExporter(endpoint=endpoint, credentials=credentials, timeout=3)


def http_exporter(proc, certs, client_cert: bool, secure: bool = True) -> HttpExporter:
    scheme = "https" if secure else "http"
    return HttpExporter(
        endpoint=f"{scheme}://127.0.0.1:{proc.http_port}/v1/traces", certificate_file=certs["ca"],
        client_certificate_file=certs["client"] if client_cert else None,
        client_key_file=certs["client-key"] if client_cert else None, timeout=3,
    )  # fmt: skip


EXPORTERS = {"grpc": grpc_exporter, "http": http_exporter}


@pytest.mark.parametrize("protocol", list(EXPORTERS))
def test_otlp_exporters_send_over_tls(tls, certs, protocol):
    service = f"tls-{protocol}"
    assert EXPORTERS[protocol](tls, certs, client_cert=False).export(spans(service)) == SpanExportResult.SUCCESS
    tls.wait_stored("otel_traces", 3, f"ServiceName = '{service}'")


@pytest.mark.parametrize("protocol", list(EXPORTERS))
def test_plaintext_clients_are_not_served_on_a_tls_listener(tls, certs, protocol):
    service = f"plain-{protocol}"
    exporter = EXPORTERS[protocol](tls, certs, client_cert=False, secure=False)
    assert exporter.export(spans(service)) == SpanExportResult.FAILURE
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{tls.api_port}/health", timeout=5).read()
    assert tls.count("otel_traces", f"ServiceName = '{service}'") == 0


def test_api_and_jaeger_over_tls(tls, certs):
    assert tls.get("/health") == (200, {"status": "ok"})
    status, body = tls.get("/jaeger/api/services")
    assert status == 200 and "data" in body
    channel = grpc.secure_channel(f"127.0.0.1:{tls.jaeger_port}", grpc.ssl_channel_credentials(read(certs["ca"])))
    try:
        services = trace_storage_pb2_grpc.TraceReaderStub(channel).GetServices(
            trace_storage_pb2.GetServicesRequest(), timeout=10
        )
        assert isinstance(list(services.services), list)
    finally:
        channel.close()


@pytest.mark.parametrize("protocol", list(EXPORTERS))
def test_mtls_takes_clients_with_a_certificate_the_ca_signed(mtls, certs, protocol):
    service = f"mtls-{protocol}"
    assert EXPORTERS[protocol](mtls, certs, client_cert=True).export(spans(service)) == SpanExportResult.SUCCESS
    mtls.wait_stored("otel_traces", 3, f"ServiceName = '{service}'")
    refused = f"mtls-refused-{protocol}"
    assert EXPORTERS[protocol](mtls, certs, client_cert=False).export(spans(refused)) == SpanExportResult.FAILURE
    assert mtls.count("otel_traces", f"ServiceName = '{refused}'") == 0


def test_mtls_on_the_api_and_jaeger(mtls, certs):
    assert mtls.get("/health") == (200, {"status": "ok"})  # the fixture's client holds a certificate
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        urllib.request.urlopen(mtls.api + "/health", timeout=5, context=client_context(certs, with_cert=False)).read()
    for with_cert in (True, False):
        key, chain = (read(certs["client-key"]), read(certs["client"])) if with_cert else (None, None)
        channel = grpc.secure_channel(
            f"127.0.0.1:{mtls.jaeger_port}", grpc.ssl_channel_credentials(read(certs["ca"]), key, chain)
        )
        try:
            call = trace_storage_pb2_grpc.TraceReaderStub(channel).GetServices
            if with_cert:
                call(trace_storage_pb2.GetServicesRequest(), timeout=10)
            else:
                with pytest.raises(grpc.RpcError) as info:
                    call(trace_storage_pb2.GetServicesRequest(), timeout=10)
                assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            channel.close()


def test_tls_settings_are_checked(tmp_path, certs):
    from modeltrace_collector.config import ConfigError, load

    with pytest.raises(ConfigError, match="go together"):
        load(environ={}, overrides={"receivers.tls_cert_file": certs["server"]})
    with pytest.raises(ConfigError, match="mTLS is TLS"):
        load(environ={}, overrides={"api.tls_client_ca_file": certs["ca"]})
    with pytest.raises(ConfigError, match="no such file"):
        load(environ={}, overrides={"jaeger.tls_cert_file": str(tmp_path / "missing.pem")})


def test_the_cli_reads_a_tls_api_with_a_client_certificate(mtls, certs):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELTRACE_")}
    env["PYTHONPATH"] = ROOT
    command = [sys.executable, "-m", "modeltrace_collector", "models", "--api-url", mtls.api, "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0  # the system's CAs do not know the development CA
    env.update(MODELTRACE_CA_FILE=certs["ca"], MODELTRACE_CLIENT_CERT_FILE=certs["client"],
               MODELTRACE_CLIENT_KEY_FILE=certs["client-key"])  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "models" in json.loads(done.stdout), done.stderr


def test_forwarding_to_an_mtls_collector(tmp_path, mtls, certs):
    from tests.collector.spans import make_requests

    upstream = CollectorProcess(
        str(tmp_path / "upstream"), "analysis.enabled=false",
        f"forward.endpoint=https://127.0.0.1:{mtls.grpc_port}", f"forward.tls_ca_file={certs['ca']}",
        f"forward.tls_client_cert_file={certs['client']}", f"forward.tls_client_key_file={certs['client-key']}",
    ).start()  # fmt: skip
    try:
        (body,) = make_requests(1, 4, service="forwarded-over-mtls")
        request = urllib.request.Request(
            upstream.http_endpoint + "/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"}
        )
        assert urllib.request.urlopen(request, timeout=10).status == 200
        mtls.wait_stored("otel_traces", 4, "ServiceName = 'forwarded-over-mtls'")
    finally:
        upstream.stop()

"""What every listener takes besides its address: TLS, and client certificates (mTLS).

The same three settings, ``tls_cert_file``, ``tls_key_file`` and ``tls_client_ca_file``, sit
in each section that owns listeners (``receivers`` for OTLP gRPC and HTTP, ``api`` for the
API and the Jaeger HTTP routes, ``jaeger`` for Jaeger's gRPC storage API). gRPC servers are
built here, so that both gRPC listeners take them alike.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc


@dataclass(frozen=True)
class Tls:
    """A server certificate and key (PEM); with ``client_ca_file``, clients must present a
    certificate that CA signed."""

    cert_file: str = ""
    key_file: str = ""
    client_ca_file: str = ""

    @classmethod
    def of(cls, section: Any) -> Tls | None:
        """The TLS settings of a config section with listeners (tls_cert_file, tls_key_file,
        tls_client_ca_file), or None when it has no certificate."""
        if not section.tls_cert_file:
            return None
        return cls(section.tls_cert_file, section.tls_key_file, section.tls_client_ca_file)

    def uvicorn_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"ssl_certfile": self.cert_file, "ssl_keyfile": self.key_file}
        if self.client_ca_file:
            settings.update(ssl_ca_certs=self.client_ca_file, ssl_cert_reqs=ssl.CERT_REQUIRED)
        return settings

    def grpc_credentials(self) -> grpc.ServerCredentials:
        def read(path: str) -> bytes:
            with open(path, "rb") as f:
                return f.read()

        return grpc.ssl_server_credentials(
            [(read(self.key_file), read(self.cert_file))],
            root_certificates=read(self.client_ca_file) if self.client_ca_file else None,
            require_client_auth=bool(self.client_ca_file),
        )


def is_loopback(listen: str) -> bool:
    """Whether ``host:port`` listens on this machine only (127.0.0.0/8, ::1, localhost)."""
    host = listen.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # 0.0.0.0 parses; a host name may resolve anywhere


def grpc_server(
    listen: str,
    name: str,
    tls: Tls | None = None,
    workers: int = 8,
    options: Sequence[tuple[str, Any]] = (),
    interceptors: Sequence[grpc.ServerInterceptor] = (),
) -> tuple[grpc.Server, int]:
    """A gRPC server bound to ``listen`` (with TLS when given), not started, and its port."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name),
        options=[("grpc.so_reuseport", 0), *options],
        interceptors=list(interceptors),
    )
    port = server.add_secure_port(listen, tls.grpc_credentials()) if tls else server.add_insecure_port(listen)
    if port == 0:
        raise OSError(f"cannot listen for {name} on {listen}")
    return server, port

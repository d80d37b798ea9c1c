"""What every listener takes besides its address: TLS, and client certificates (mTLS).

The same three settings, ``tls_cert_file``, ``tls_key_file`` and ``tls_client_ca_file``, sit
in each section that owns listeners (``receivers`` for OTLP gRPC and HTTP, ``api`` for the
API and the Jaeger HTTP routes, ``jaeger`` for Jaeger's gRPC storage API). gRPC servers are
built here, so that both gRPC listeners take them alike.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import threading
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


# The setting and the flag behind each listener's address, for messages a user can act on.
LISTEN_SETTINGS = {
    "otlp-grpc": "receivers.grpc, --grpc",
    "otlp-http": "receivers.http, --http",
    "api": "api.listen, --api",
    "jaeger-grpc": "jaeger.grpc, --jaeger-grpc",
}


def cannot_listen(name: str, listen: str, reason: str) -> OSError:
    where = LISTEN_SETTINGS.get(name)
    return OSError(f"cannot listen for {name} on {listen}{f' ({where})' if where else ''}: {reason}")


class GrpcServer:
    """A gRPC server (``grpc.aio``) on an event loop of its own thread, bound to ``listen`` (with
    TLS when given) at once, so that its port is known before ``start``.

    The handlers stay plain functions: they run on ``workers`` threads once a call's request
    has arrived. Waiting for a request costs no thread, so clients that open calls and send
    nothing (a token or not) cannot take the workers from the others, as they could on the
    threaded server, where each call holds a worker from its first byte."""

    def __init__(
        self,
        listen: str,
        name: str,
        tls: Tls | None = None,
        workers: int = 8,
        options: Sequence[tuple[str, Any]] = (),
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> None:
        self.name = name
        self._pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"{name}-loop", daemon=True)
        self._thread.start()

        async def build() -> tuple[grpc.aio.Server, int]:
            server = grpc.aio.server(
                migration_thread_pool=self._pool,
                options=[("grpc.so_reuseport", 0), *options],
                interceptors=list(interceptors),
            )
            creds = tls.grpc_credentials() if tls else None
            try:
                port = server.add_secure_port(listen, creds) if creds else server.add_insecure_port(listen)
            except RuntimeError:  # grpcio's "Failed to bind to address"
                port = 0
            return server, port

        try:
            self._server, self.port = self._run(build())
            if self.port == 0:
                raise cannot_listen(name, listen, "the address is in use or not available here")
        except BaseException:
            self._close_loop()
            raise

    def _run(self, coroutine: Any, timeout: float | None = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def run_blocking(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on one of the worker threads (from a handler written as a coroutine)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        """What the code grpcio-tools generates calls besides ``add_generic_rpc_handlers``."""
        self._server.add_registered_method_handlers(service, handlers)

    def start(self) -> None:
        self._run(self._server.start())

    def stop(self, timeout: float) -> None:
        """Refuse new calls and give those running ``timeout`` seconds to finish."""
        if self._loop.is_closed():
            return
        try:
            self._run(self._server.stop(timeout), timeout + 5)
        finally:
            self._close_loop()

    def _close_loop(self) -> None:
        """Stop and close the loop: a handler still running that answers later then fails at
        once (closed loop) instead of waiting for ever on a loop that no longer runs, which
        would keep the process from exiting."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()
        self._pool.shutdown(wait=False)

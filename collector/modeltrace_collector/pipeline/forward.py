"""Forwarding of received traces to another OTLP/gRPC endpoint (a Jaeger's 4317, another
collector), after they are safe in the spool.

The forwarder keeps its own queue on disk (a second spool, under ``data_dir/forward``) and its
own thread: the receivers append the request bytes they just spooled and return at once, and
what has not been sent when the collector stops is sent after the next start. Retryable
failures (UNAVAILABLE, a deadline, throttling) are retried with exponential backoff; requests
the target rejects as bad are dropped. When the queue holds ``max_queue_bytes`` new requests
are dropped and counted (``forward_dropped_requests``): a slow or dead target never holds up
receiving or storage, which remain the record of truth. Delivery is at least once: a request
whose answer was lost, or that was sent just before a crash, can arrive twice.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ..config import ForwardSettings
from .spool import Spool, SpoolFull

_DEFAULTS = ForwardSettings()

log = logging.getLogger("modeltrace.forward")
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.DATA_LOSS,
}


def channel_for(
    endpoint: str, ca_file: str = "", client_cert_file: str = "", client_key_file: str = ""
) -> grpc.Channel:
    """``host:port`` or ``http://host:port`` (plaintext), ``https://host:port`` (TLS, trusting
    ``ca_file`` or the system's CAs; a client certificate for mTLS)."""
    if endpoint.startswith("https://"):

        def read(path: str) -> bytes | None:
            if not path:
                return None
            with open(path, "rb") as f:
                return f.read()

        credentials = grpc.ssl_channel_credentials(read(ca_file), read(client_key_file), read(client_cert_file))
        return grpc.secure_channel(endpoint.removeprefix("https://"), credentials)
    return grpc.insecure_channel(endpoint.removeprefix("http://"))


class Forwarder:
    def __init__(
        self,
        endpoint: str,
        metrics: Any,
        queue_dir: str,
        max_queue_bytes: int = _DEFAULTS.max_queue_bytes,
        timeout: float = _DEFAULTS.timeout_seconds,
        headers: dict[str, str] | None = None,
        max_backoff: float = 30.0,
        tls_files: tuple[str, str, str] = ("", "", ""),
    ) -> None:
        """``tls_files``: (CA, client certificate, client key) for an ``https://`` endpoint."""
        self.endpoint = endpoint
        self.metrics = metrics
        self.timeout = timeout
        self.metadata = tuple((k.lower(), v) for k, v in (headers or {}).items())
        self.max_backoff = max_backoff
        # the page cache is enough here: the spool proper holds the data durably
        self._queue = Spool(
            queue_dir, max_bytes=max_queue_bytes, segment_bytes=max(1 << 20, max_queue_bytes // 8), fsync="never"
        )
        self._stop = threading.Event()
        self._channel = channel_for(endpoint, *tls_files)
        self._export: grpc.UnaryUnaryMultiCallable[bytes, ExportTraceServiceResponse] = self._channel.unary_unary(
            EXPORT, request_serializer=None, response_deserializer=ExportTraceServiceResponse.FromString
        )
        self._thread = threading.Thread(target=self._loop, name="otlp-forward", daemon=True)
        metrics.gauge("forward_queue_bytes", lambda: self._queue.depth()[0])
        metrics.gauge("forward_queue_requests", lambda: self._queue.depth()[1])
        if self.depth():
            log.info("forwarding %d request(s) left from the last run to %s", self.depth(), endpoint)

    name = "forwarder"

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive() or self._stop.is_set()

    def health(self) -> list[str]:
        return [] if self.alive() else ["the forwarder thread has died; see the log"]

    def submit(self, payload: bytes) -> None:
        """Queue one encoded ExportTraceServiceRequest; never blocks on the target."""
        try:
            self._queue.append(payload)
        except SpoolFull as exc:
            self.metrics.inc("forward_dropped_requests")
            log.warning("forward queue full, a request is not forwarded: %s", exc)

    def depth(self) -> int:
        return self._queue.depth()[1]

    def _loop(self) -> None:
        while not self._stop.is_set():
            position = self._queue.committed
            records = self._queue.read(position, 256, 8 << 20)
            if not records:
                self._queue.wait(position, 0.5)
                continue
            for record in records:
                if not self._send(record.payload):
                    return  # stopping: the rest stays queued for the next start
            # one cursor write per batch: a crash before it resends the batch (at least once)
            self._queue.commit(records[-1].end, len(records))

    def _send(self, payload: bytes) -> bool:
        """Deliver one request, retrying while the failure is retryable; False when stopping."""
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._export(payload, timeout=self.timeout, metadata=self.metadata)
                self.metrics.inc("forward_sent_requests")
                return True
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, "code") else None
                if code not in RETRYABLE:
                    log.warning("forwarding target %s rejected a request (%s): dropped", self.endpoint, code)
                    self.metrics.inc("forward_dropped_requests")
                    return True
                self.metrics.inc("forward_retries")
                log.warning("forwarding to %s failed (%s); retrying in %.1f s", self.endpoint, code, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        return False

    def shutdown(self, timeout: float = 5.0) -> None:
        """Give the queue ``timeout`` seconds to empty, then stop; the rest waits on disk."""
        deadline = time.monotonic() + timeout
        while self.depth() and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.05)
        self._stop.set()
        self._thread.join(self.timeout + 1)
        left = self.depth()
        if left:
            log.warning("forwarding stopped with %d request(s) queued; they are sent after the next start", left)
        self._queue.close()
        self._channel.close()

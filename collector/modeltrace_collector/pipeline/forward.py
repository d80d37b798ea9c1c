"""Forwarding of received traces to another OTLP/gRPC endpoint (a Jaeger's 4317, another
collector), after they are safe in the spool.

The forwarder has its own bounded queue and thread: the receivers hand it the request
bytes they just spooled and return at once. Retryable failures (UNAVAILABLE, a deadline,
throttling) are retried with exponential backoff; requests the target rejects as bad are
dropped. When the queue is full the oldest requests are dropped and counted
(``forward_dropped_spans``): a slow or dead target never holds up receiving or storage,
which remain the record of truth.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

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


def channel_for(endpoint: str) -> grpc.Channel:
    """``host:port`` or ``http://host:port`` (plaintext), ``https://host:port`` (TLS)."""
    if endpoint.startswith("https://"):
        return grpc.secure_channel(endpoint.removeprefix("https://"), grpc.ssl_channel_credentials())
    return grpc.insecure_channel(endpoint.removeprefix("http://"))


class Forwarder:
    def __init__(
        self,
        endpoint: str,
        metrics: Any,
        max_queue_bytes: int = 64 << 20,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
        max_backoff: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self.metrics = metrics
        self.max_queue_bytes = max_queue_bytes
        self.timeout = timeout
        self.metadata = tuple((k.lower(), v) for k, v in (headers or {}).items())
        self.max_backoff = max_backoff
        self._queue: collections.deque[bytes] = collections.deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._stop = False
        self._channel = channel_for(endpoint)
        self._export = self._channel.unary_unary(
            EXPORT, request_serializer=None, response_deserializer=ExportTraceServiceResponse.FromString
        )
        self._thread = threading.Thread(target=self._loop, name="otlp-forward", daemon=True)
        metrics.gauge("forward_queue_bytes", lambda: self._bytes)

    def start(self) -> None:
        self._thread.start()

    def submit(self, payload: bytes) -> None:
        """Queue one encoded ExportTraceServiceRequest; never blocks."""
        with self._cond:
            self._queue.append(payload)
            self._bytes += len(payload)
            while self._bytes > self.max_queue_bytes and len(self._queue) > 1:
                dropped = self._queue.popleft()
                self._bytes -= len(dropped)
                self.metrics.inc("forward_dropped_requests")
            self._cond.notify()

    def depth(self) -> int:
        with self._cond:
            return len(self._queue)

    def _next(self) -> bytes | None:
        with self._cond:
            while not self._queue and not self._stop:
                self._cond.wait()
            return self._queue[0] if self._queue else None

    def _done(self, payload: bytes) -> None:
        with self._cond:
            if self._queue and self._queue[0] is payload:
                self._queue.popleft()
                self._bytes -= len(payload)

    def _loop(self) -> None:
        backoff = 0.5
        while True:
            payload = self._next()
            if payload is None:
                return
            try:
                self._export(payload, timeout=self.timeout, metadata=self.metadata)
                self.metrics.inc("forward_sent_requests")
                self._done(payload)
                backoff = 0.5
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, "code") else None
                if code in RETRYABLE:
                    self.metrics.inc("forward_retries")
                    log.warning("forwarding to %s failed (%s); retrying in %.1f s", self.endpoint, code, backoff)
                    with self._cond:
                        if self._cond.wait_for(lambda: self._stop, backoff):
                            return
                    backoff = min(backoff * 2, self.max_backoff)
                else:
                    log.warning("forwarding target %s rejected a request (%s): dropped", self.endpoint, code)
                    self.metrics.inc("forward_dropped_requests")
                    self._done(payload)

    def shutdown(self, drain_seconds: float = 5.0) -> None:
        """Give the queue ``drain_seconds`` to empty, then stop; what is left is dropped."""
        deadline = time.monotonic() + drain_seconds
        while self.depth() and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.05)
        with self._cond:
            self._stop = True
            left = len(self._queue)
            self._cond.notify_all()
        if left:
            log.warning("forwarding stopped with %d request(s) not sent", left)
            self.metrics.inc("forward_dropped_requests", left)
        self._thread.join(self.timeout + 1)
        self._channel.close()

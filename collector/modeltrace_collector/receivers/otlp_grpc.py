"""OTLP/gRPC: ``opentelemetry.proto.collector.trace.v1.TraceService/Export``."""

from __future__ import annotations

import logging
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from ..auth import Authenticator, GrpcAuth
from ..net.listener import GrpcServer, Tls
from .ingest import RETRY_AFTER_SECONDS, Door, Malformed, Overloaded

log = logging.getLogger("modeltrace.receivers")
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def retry_details(message: str) -> tuple[tuple[str, bytes], ...]:
    """The trailing metadata of an UNAVAILABLE answer with a ``google.rpc.RetryInfo`` detail:
    the OTLP throttling signal."""
    retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=RETRY_AFTER_SECONDS))
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message)
    status.details.add().Pack(retry)
    return (("grpc-status-details-bin", status.SerializeToString()),)


class GrpcReceiver:
    def __init__(
        self,
        listen: str,
        door: Door,
        max_request_bytes: int,
        workers: int = 8,
        tls: Tls | None = None,
        auth: Authenticator | None = None,
        max_concurrent: int = 16,
    ) -> None:
        self.listen = listen
        self.door = door
        self.metrics = door.metrics
        # bytes of requests that have arrived and wait for or hold a worker: bounded like the
        # HTTP receiver's bodies (grpc.aio reads every call's message whether a worker is free)
        self.max_held_bytes = max_concurrent * max_request_bytes
        self._held = 0
        self._server = GrpcServer(
            listen, "otlp-grpc", tls, workers, [("grpc.max_receive_message_length", max_request_bytes)],
            [GrpcAuth(auth, "ingest")] if auth else (),
        )  # fmt: skip
        self.port = self._server.port
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    self._export,
                    request_deserializer=None,  # keep the client's bytes: they go to the spool as they are
                    response_serializer=ExportTraceServiceResponse.SerializeToString,
                )
            },
        )
        self._server.add_generic_rpc_handlers((handler,))

    name = "OTLP gRPC receiver"

    def start(self) -> None:
        self._server.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Refuse new calls and give those running ``timeout`` seconds to finish."""
        self._server.stop(timeout)

    def health(self) -> list[str]:
        return []

    async def _export(self, raw: bytes, context: Any) -> ExportTraceServiceResponse:
        """Runs on the event loop: past ``max_held_bytes`` of requests held, a request is
        refused at once (UNAVAILABLE with RetryInfo) rather than queued for a worker."""
        if self._held and self._held + len(raw) > self.max_held_bytes:
            self.metrics.inc("requests_rejected", reason="busy")
            message = "collector overloaded: too many requests held at once; retry shortly"
            await context.abort(grpc.StatusCode.UNAVAILABLE, message, retry_details(message))
        self._held += len(raw)
        try:
            accepted = await self._server.run_blocking(self.door.accept_raw, raw)
        except Malformed as exc:
            self.metrics.inc("requests_rejected", reason="malformed")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Overloaded as exc:
            message = f"collector overloaded: {exc}"
            await context.abort(grpc.StatusCode.UNAVAILABLE, message, retry_details(message))
        except Exception:
            log.exception("OTLP/gRPC export failed")
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        finally:
            self._held -= len(raw)
        if accepted.rejected or accepted.message:
            return ExportTraceServiceResponse(
                partial_success=ExportTracePartialSuccess(
                    rejected_spans=accepted.rejected, error_message=accepted.message
                )
            )
        return ExportTraceServiceResponse()

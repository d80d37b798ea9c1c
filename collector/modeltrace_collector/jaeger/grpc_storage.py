"""Jaeger v2 remote storage on gRPC (port 17271): ``jaeger.storage.v2.TraceReader`` and
``DependencyReader`` over the traces in ClickHouse, so a stock Jaeger v2 configured with a
``grpc`` storage backend shows them. Jaeger writes through OTLP: point its ``writer``
endpoint at the collector's OTLP/gRPC receiver.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from ..auth import Authenticator, GrpcAuth
from ..net.listener import GrpcServer, Tls
from ..proto_gen.jaeger.storage.v2 import (
    dependency_storage_pb2,
    dependency_storage_pb2_grpc,
    trace_storage_pb2,
    trace_storage_pb2_grpc,
)
from ..query.traces import TraceQuery, TraceReader, traces_data
from ..storage.schema import any_value_str

log = logging.getLogger("modeltrace.jaeger")


def _ns(ts: Timestamp) -> int:
    return ts.seconds * 1_000_000_000 + ts.nanos


def _timestamp(ns: int) -> Timestamp:
    return Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)


def page_token(offset: int) -> str:
    """An opaque, UTF-8 continuation token: where the next page starts."""
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def page_offset(token: str) -> int:
    if not token:
        return 0
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    kind, _, value = raw.partition(":")
    if kind != "offset" or not value.isdigit():
        raise ValueError(token)
    return int(value)


def query_from_proto(q: trace_storage_pb2.TraceQueryParameters) -> TraceQuery:
    return TraceQuery(
        service=q.service_name,
        operation=q.operation_name,
        attributes={kv.key: any_value_str(kv.value) for kv in q.attributes},
        start_min_ns=_ns(q.start_time_min) if q.HasField("start_time_min") else 0,
        start_max_ns=_ns(q.start_time_max) if q.HasField("start_time_max") else 0,
        duration_min_ns=q.duration_min.seconds * 1_000_000_000 + q.duration_min.nanos,
        duration_max_ns=q.duration_max.seconds * 1_000_000_000 + q.duration_max.nanos,
        limit=q.search_depth,
    )


class _Storage(trace_storage_pb2_grpc.TraceReaderServicer, dependency_storage_pb2_grpc.DependencyReaderServicer):
    def __init__(self, reader: TraceReader, chunk_spans: int) -> None:
        self.reader = reader
        self.chunk_spans = chunk_spans

    def _chunks(self, rows: list[tuple[Any, ...]], total: int | None) -> Iterator[TracesData]:
        """One trace as consecutive non-empty chunks of at most ``chunk_spans`` spans."""
        for k in range(0, len(rows), self.chunk_spans):
            yield traces_data(rows[k : k + self.chunk_spans], total if k == 0 else None)

    def GetTraces(self, request: Any, context: Any) -> Iterator[TracesData]:
        for params in request.query:
            if len(params.trace_id) != 16:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a trace id is 16 bytes")
            trace_id = params.trace_id.hex()
            start = _ns(params.start_time) if params.HasField("start_time") else 0
            end = _ns(params.end_time) if params.HasField("end_time") else 0
            found, totals = _call(context, self.reader.spans, [trace_id], start, end)
            yield from self._chunks(found.get(trace_id, []), totals.get(trace_id))

    def GetServices(self, request: Any, context: Any) -> Any:
        return trace_storage_pb2.GetServicesResponse(services=_call(context, self.reader.services))

    def GetOperations(self, request: Any, context: Any) -> Any:
        if not request.service:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "service is required")
        ops = _call(context, self.reader.operations, request.service, request.span_kind)
        return trace_storage_pb2.GetOperationsResponse(
            operations=[trace_storage_pb2.Operation(name=n, span_kind=k) for n, k in ops]
        )

    def FindTraces(self, request: Any, context: Any) -> Iterator[TracesData]:
        for _, rows, total in _call(context, self.reader.find_traces, query_from_proto(request.query)):
            yield from self._chunks(rows, total)

    def FindTraceIDs(self, request: Any, context: Any) -> Any:
        query = query_from_proto(request.query)
        paged = request.query.HasField("pagination")
        if paged:
            page = request.query.pagination
            query.limit = page.page_size or query.limit
            try:
                query.offset = page_offset(page.page_token)
            except ValueError:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed page_token {page.page_token!r}")
        found = _call(context, self.reader.find_trace_ids, query)
        full_page = len(found) == max(1, min(query.limit or 20, self.reader.max_search_traces))
        return trace_storage_pb2.FindTraceIDsResponse(
            trace_ids=[
                trace_storage_pb2.FoundTraceID(
                    trace_id=bytes.fromhex(f.trace_id), start=_timestamp(f.start_ns), end=_timestamp(f.end_ns)
                )
                for f in found
            ],
            next_page_token=page_token(query.offset + len(found)) if paged and full_page else "",
        )

    def FindTraceSummaries(self, request: Any, context: Any) -> Iterator[Any]:
        # optional in the contract: UNIMPLEMENTED makes Jaeger fall back to FindTraces
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "FindTraceSummaries is not supported; use FindTraces")
        yield from ()

    def GetDependencies(self, request: Any, context: Any) -> Any:
        start = _ns(request.start_time) if request.HasField("start_time") else 0
        end = _ns(request.end_time) if request.HasField("end_time") else 0
        if not end or end < start:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "end_time is required and must not precede start_time")
        deps = _call(context, self.reader.dependencies, start, end)
        return dependency_storage_pb2.GetDependenciesResponse(
            dependencies=[
                dependency_storage_pb2.Dependency(parent=p, child=c, call_count=n, source="modeltrace")
                for p, c, n in deps
            ]
        )


def _call(context: Any, fn: Any, *args: Any) -> Any:
    """Storage failures become UNAVAILABLE (Jaeger retries or shows the error)."""
    try:
        return fn(*args)
    except Exception as exc:
        log.warning("Jaeger storage query failed: %s", exc)
        context.abort(grpc.StatusCode.UNAVAILABLE, f"storage query failed: {str(exc).splitlines()[0][:300]}")


class JaegerStorageServer:
    """The gRPC server for Jaeger's remote storage read API."""

    def __init__(
        self,
        listen: str,
        reader: TraceReader,
        chunk_spans: int = 1000,
        workers: int = 8,
        tls: Tls | None = None,
        auth: Authenticator | None = None,
    ) -> None:
        self.listen = listen
        self._server = GrpcServer(
            listen, "jaeger-grpc", tls, workers, [("grpc.max_send_message_length", 64 << 20)],
            [GrpcAuth(auth, "read")] if auth else (),
        )  # fmt: skip
        self.port = self._server.port
        storage = _Storage(reader, chunk_spans)
        # the generated registration functions carry no annotations
        trace_storage_pb2_grpc.add_TraceReaderServicer_to_server(storage, self._server)  # type: ignore[no-untyped-call]
        dependency_storage_pb2_grpc.add_DependencyReaderServicer_to_server(storage, self._server)  # type: ignore[no-untyped-call]

    name = "Jaeger storage gRPC server"

    def start(self) -> None:
        self._server.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        self._server.stop(timeout)

    def health(self) -> list[str]:
        return []

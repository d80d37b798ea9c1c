"""OTLP/HTTP: ``POST /v1/traces`` with protobuf or JSON bodies, optionally gzipped, with a
``Content-Length`` or chunked (as the JavaScript exporters send them).

Responses use the request's content type. Errors carry a ``google.rpc.Status`` body:
400 for bad data (never retried), 411 without a body, 413 over the size limit, 415 for other
content types, 503 with ``Retry-After`` when the spool is full or too many bodies are in
memory. A body that does not arrive whole (the client left, or went silent) is never decoded
or spooled.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import zlib
from typing import Any

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from ..auth import Authenticator, AuthError
from ..jsonbody import BadJson, load_json
from ..net.body import BodyError, Budget, Hold, header, read_body, send_bytes
from ..net.listener import Tls
from ..net.server import AsgiServer
from .ingest import RETRY_AFTER_SECONDS, Door, Malformed, Overloaded, TooLarge

log = logging.getLogger("modeltrace.receivers")

PROTOBUF = "application/x-protobuf"
JSON_DECODERS = 2
INLINE_BYTES = 256 << 10
JSON = "application/json"
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(data: Any) -> None:
    """OTLP/JSON writes ids as hex; protobuf's JSON mapping expects base64 for bytes. Walked
    without recursion: any nesting the JSON parser took is safe here."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _ID_FIELDS and isinstance(value, str):
                    try:
                        node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                    except ValueError as exc:
                        raise Malformed(f"{key} {value[:40]!r} is not hex") from exc
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(item for item in node if isinstance(item, (dict, list)))


def decode_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        # nesting is bounded by the parser (about 1000 levels) and by ParseDict (100 messages)
        data = load_json(body, max_depth=None, constants=True)
    except BadJson as exc:
        raise Malformed(str(exc)) from exc
    if not isinstance(data, dict):
        raise Malformed("body must be a JSON object")
    _hex_ids_to_base64(data)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError) as exc:
        raise Malformed(f"not an OTLP ExportTraceServiceRequest: {str(exc)[:500]}") from exc
    return request


GZIP_CHUNK = 64 << 10
MAX_GZIP_MEMBERS = 64


def gunzip(body: bytes, limit: int) -> bytes:
    """The whole decompressed body: every member of a multi-member gzip file (RFC 1952, at most
    ``MAX_GZIP_MEMBERS``), at most ``limit`` bytes in all. The input is fed a chunk at a time,
    so a body of many members costs time in proportion to its size."""
    out = bytearray()
    view = memoryview(body)
    pos, members = 0, 1
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data: bytes | memoryview = b""
    while True:
        if not data:
            if pos >= len(view):
                raise Malformed("truncated gzip body")
            data, pos = view[pos : pos + GZIP_CHUNK], pos + GZIP_CHUNK
        try:
            out += d.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise Malformed(f"bad gzip body: {exc}") from exc
        if len(out) > limit or d.unconsumed_tail:
            raise TooLarge(f"decompressed body exceeds {limit} bytes")
        data = b""
        if not d.eof:
            continue
        rest = d.unused_data
        head = rest[:2] if len(rest) >= 2 else rest + view[pos : pos + 2 - len(rest)].tobytes()
        if head != b"\x1f\x8b":  # the end, or the zero padding some writers add
            if rest.strip(b"\x00") or view[pos:].tobytes().strip(b"\x00"):
                raise Malformed("bad gzip body: data after the last member")
            return bytes(out)
        members += 1
        if members > MAX_GZIP_MEMBERS:
            raise Malformed(f"a gzip body of more than {MAX_GZIP_MEMBERS} members")
        data = rest
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)


# BodyError status -> (requests_rejected reason, google.rpc code)
_BODY_ERRORS = {
    408: ("incomplete", code_pb2.DEADLINE_EXCEEDED),
    411: ("malformed", code_pb2.INVALID_ARGUMENT),
    413: ("too_large", code_pb2.RESOURCE_EXHAUSTED),
    503: ("busy", code_pb2.UNAVAILABLE),
}


class _Reply(Exception):
    """An answer other than success: HTTP status, google.rpc code, message, extra headers."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.headers = status, code, headers


class HttpReceiver:
    """The OTLP/HTTP listener. ``max_concurrent`` requests are decoded and spooled at once (the
    others wait their turn with their bodies read), and at most ``max_concurrent`` times
    ``max_request_bytes`` of bodies are held in memory."""

    def __init__(
        self,
        listen: str,
        door: Door,
        max_request_bytes: int,
        max_concurrent: int = 16,
        read_timeout: float = 30.0,
        tls: Tls | None = None,
        auth: Authenticator | None = None,
    ) -> None:
        self.door = door
        self.auth = auth
        self.metrics = door.metrics
        self.max_request_bytes = max_request_bytes
        self.read_timeout = read_timeout
        self._budget = Budget(max_concurrent * max_request_bytes)
        self._workers = threading.BoundedSemaphore(max_concurrent)
        # Decoding JSON takes ten to twenty times the body's size in memory and holds the GIL:
        # two at a time, the others wait their turn (protobuf bodies do not).
        self._json_decoders = threading.BoundedSemaphore(JSON_DECODERS)
        self._http = AsgiServer(listen, self.app, "otlp-http", read_timeout=read_timeout, tls=tls)
        self.port = self._http.port

    name = "OTLP HTTP receiver"

    def start(self) -> None:
        self._http.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        self._http.shutdown(timeout)

    def health(self) -> list[str]:
        return self._http.health()

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctype = (header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
        reply_type = JSON if ctype == JSON else PROTOBUF
        hold = Hold(self._budget)
        taken = False  # the whole body was read: the connection stays in step
        try:
            # Refusals before the body is read close the connection: its bytes are never taken
            # for a next request.
            if self.auth is not None:
                try:
                    self.auth.check(header(scope, b"authorization"), "ingest")
                except AuthError as exc:
                    self.metrics.inc(
                        "requests_rejected", reason="unauthenticated" if exc.status == 401 else "forbidden"
                    )
                    code = code_pb2.UNAUTHENTICATED if exc.status == 401 else code_pb2.PERMISSION_DENIED
                    raise _Reply(exc.status, code, str(exc), exc.headers) from None
            if scope["method"] != "POST":
                raise _Reply(405, code_pb2.INVALID_ARGUMENT, "OTLP/HTTP takes POST")
            if scope["path"] != "/v1/traces":
                raise _Reply(404, code_pb2.NOT_FOUND, f"no route {scope['path']}")
            if ctype not in (PROTOBUF, JSON):
                self.metrics.inc("requests_rejected", reason="content_type")
                raise _Reply(415, code_pb2.INVALID_ARGUMENT, f"unsupported content type {ctype!r}")
            try:
                body = await read_body(scope, receive, self.max_request_bytes, self.read_timeout, hold=hold)
            except BodyError as exc:
                reason, code = _BODY_ERRORS.get(exc.status, ("malformed", code_pb2.INVALID_ARGUMENT))
                self.metrics.inc("requests_rejected", reason="incomplete" if exc.incomplete else reason)
                retry = {"Retry-After": str(RETRY_AFTER_SECONDS)} if exc.status == 503 else None
                raise _Reply(exc.status, code, str(exc), retry) from None
            taken = True
            encoding = (header(scope, b"content-encoding") or "").strip().lower()
            if ctype == PROTOBUF and len(body) <= INLINE_BYTES and not encoding:
                # a small protobuf body decodes and spools in well under a millisecond: a hop to a
                # worker thread would cost more than it spares the event loop (which runs one at a
                # time: it never waits for a worker slot, which would stall every connection)
                payload = self.export(body, ctype, encoding)
            else:
                payload = await run_in_threadpool(self._export_on_worker, body, ctype, encoding)
        except _Reply as reply:
            status = status_pb2.Status(code=reply.code, message=str(reply))
            data = (
                json.dumps(json_format.MessageToDict(status)).encode()
                if reply_type == JSON
                else status.SerializeToString()
            )
            await send_bytes(send, reply.status, reply_type, data, reply.headers, close=not taken)
            return
        finally:
            hold.release()
        await send_bytes(send, 200, reply_type, payload)

    def _export_on_worker(self, body: bytes, ctype: str, encoding: str) -> bytes:
        """``export`` on a worker thread, ``max_concurrent`` at a time."""
        with self._workers:
            return self.export(body, ctype, encoding)

    def export(self, body: bytes, ctype: str, encoding: str) -> bytes:
        """Decodes and spools one body; the success answer, or ``_Reply``."""
        try:
            if encoding == "gzip":
                body = gunzip(body, self.max_request_bytes)
            elif encoding not in ("", "identity"):
                raise Malformed(f"unsupported Content-Encoding {encoding!r}")
            if ctype == JSON:
                with self._json_decoders:
                    request = decode_json(body)
                accepted = self.door.accept(request, None)
            else:
                accepted = self.door.accept_raw(body)
        except Malformed as exc:
            self.metrics.inc("requests_rejected", reason="malformed")
            raise _Reply(400, code_pb2.INVALID_ARGUMENT, str(exc)) from None
        except TooLarge as exc:
            self.metrics.inc("requests_rejected", reason="too_large")
            raise _Reply(413, code_pb2.RESOURCE_EXHAUSTED, str(exc)) from None
        except Overloaded as exc:
            raise _Reply(
                503, code_pb2.UNAVAILABLE, f"collector overloaded: {exc}", {"Retry-After": str(RETRY_AFTER_SECONDS)}
            ) from None
        except Exception:
            log.exception("OTLP/HTTP export failed")
            raise _Reply(500, code_pb2.INTERNAL, "internal error") from None
        response = ExportTraceServiceResponse()
        if accepted.rejected or accepted.message:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=accepted.rejected, error_message=accepted.message)
            )
        if ctype == JSON:
            return json.dumps(json_format.MessageToDict(response)).encode()
        return response.SerializeToString()

"""OTLP/HTTP: ``POST /v1/traces`` with protobuf or JSON bodies, optionally gzipped.

Responses use the request's content type. Errors carry a ``google.rpc.Status`` body:
400 for bad data (never retried), 411 without a Content-Length, 413 over the size limit,
415 for other content types, 503 with ``Retry-After`` when the spool is full. A body that
does not arrive whole (the client left, or went silent) is never decoded or spooled.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import zlib
from http.server import BaseHTTPRequestHandler
from typing import Any

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from ..httpserver import DEFAULT_READ_TIMEOUT, BackgroundHttpServer, BodyError, read_body
from ..jsonbody import BadJson, load_json
from .ingest import RETRY_AFTER_SECONDS, Door, Malformed, Overloaded, TooLarge, decode

log = logging.getLogger("modeltrace.receivers")

PROTOBUF = "application/x-protobuf"
JSON_DECODERS = 2
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


def gunzip(body: bytes, limit: int) -> bytes:
    """The whole decompressed body: every member of a multi-member gzip file (RFC 1952), at most
    ``limit`` bytes in all."""
    out = bytearray()
    rest = body
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += d.decompress(rest, limit + 1 - len(out))
        except zlib.error as exc:
            raise Malformed(f"bad gzip body: {exc}") from exc
        if len(out) > limit:
            raise TooLarge(f"decompressed body exceeds {limit} bytes")
        if not d.eof:
            if d.unconsumed_tail:
                raise TooLarge(f"decompressed body exceeds {limit} bytes")
            raise Malformed("truncated gzip body")
        rest = d.unused_data
        if not rest.strip(b"\x00"):  # the end, or the zero padding some writers add
            return bytes(out)


# BodyError status -> (requests_rejected reason, google.rpc code)
_BODY_ERRORS = {
    408: ("incomplete", code_pb2.DEADLINE_EXCEEDED),
    411: ("malformed", code_pb2.INVALID_ARGUMENT),
    413: ("too_large", code_pb2.RESOURCE_EXHAUSTED),
}


class HttpReceiver:
    def __init__(
        self,
        listen: str,
        door: Door,
        max_request_bytes: int,
        max_concurrent: int = 16,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        self.door = door
        self.metrics = door.metrics
        self.max_request_bytes = max_request_bytes
        # Bodies in flight are bounded: each may be up to max_request_bytes in memory.
        self._in_flight = threading.BoundedSemaphore(max_concurrent)
        # Decoding JSON takes ten to twenty times the body's size in memory and holds the GIL:
        # two at a time, the others wait their turn (protobuf bodies do not).
        self._json_decoders = threading.BoundedSemaphore(JSON_DECODERS)
        self._http = BackgroundHttpServer(listen, self._dispatch, "otlp-http", read_timeout=read_timeout)
        self.port = self._http.port

    def start(self) -> None:
        self._http.start()

    def shutdown(self) -> None:
        self._http.shutdown()

    def _dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        if method != "POST":
            return self._error(h, 405, PROTOBUF, code_pb2.INVALID_ARGUMENT, "OTLP/HTTP takes POST", close=True)
        if not self._in_flight.acquire(timeout=5):
            self.metrics.inc("requests_rejected", reason="busy")
            return self._error(
                h, 503, PROTOBUF, code_pb2.UNAVAILABLE, "too many requests in flight",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, close=True,  # the body is not read
            )  # fmt: skip
        try:
            self.handle(h)
        finally:
            self._in_flight.release()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        ctype = (h.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        reply_type = JSON if ctype == JSON else PROTOBUF
        # Refusals before the body is read close the connection: its bytes are never taken
        # for a next request.
        if path != "/v1/traces":
            return self._error(h, 404, reply_type, code_pb2.NOT_FOUND, f"no route {path}", close=True)
        if ctype not in (PROTOBUF, JSON):
            self.metrics.inc("requests_rejected", reason="content_type")
            return self._error(
                h, 415, reply_type, code_pb2.INVALID_ARGUMENT, f"unsupported content type {ctype!r}", close=True
            )
        try:
            body = read_body(h, self.max_request_bytes)
        except BodyError as exc:
            reason, code = _BODY_ERRORS.get(exc.status, ("malformed", code_pb2.INVALID_ARGUMENT))
            self.metrics.inc("requests_rejected", reason="incomplete" if exc.incomplete else reason)
            return self._error(h, exc.status, reply_type, code, str(exc), close=True)
        try:
            encoding = (h.headers.get("Content-Encoding") or "").strip().lower()
            if encoding == "gzip":
                body = gunzip(body, self.max_request_bytes)
            elif encoding not in ("", "identity"):
                raise Malformed(f"unsupported Content-Encoding {encoding!r}")
            if ctype == JSON:
                with self._json_decoders:
                    request = decode_json(body)
                raw = None
            else:
                request = decode(body)
                raw = body
            accepted = self.door.accept(request, raw)
        except Malformed as exc:
            self.metrics.inc("requests_rejected", reason="malformed")
            return self._error(h, 400, reply_type, code_pb2.INVALID_ARGUMENT, str(exc))
        except TooLarge as exc:
            self.metrics.inc("requests_rejected", reason="too_large")
            return self._error(h, 413, reply_type, code_pb2.RESOURCE_EXHAUSTED, str(exc))
        except Overloaded as exc:
            return self._error(
                h, 503, reply_type, code_pb2.UNAVAILABLE, f"collector overloaded: {exc}",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )  # fmt: skip
        except Exception:
            log.exception("OTLP/HTTP export failed")
            return self._error(h, 500, reply_type, code_pb2.INTERNAL, "internal error")
        response = ExportTraceServiceResponse()
        if accepted.rejected or accepted.message:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=accepted.rejected, error_message=accepted.message)
            )
        if reply_type == JSON:
            payload = json.dumps(json_format.MessageToDict(response)).encode()
        else:
            payload = response.SerializeToString()
        self._send(h, 200, reply_type, payload)

    def _error(
        self,
        h: BaseHTTPRequestHandler,
        http_status: int,
        ctype: str,
        code: int,
        message: str,
        headers: dict[str, str] | None = None,
        close: bool = False,
    ) -> None:
        status = status_pb2.Status(code=code, message=message)
        payload = (
            json.dumps(json_format.MessageToDict(status)).encode() if ctype == JSON else status.SerializeToString()
        )
        self._send(h, http_status, ctype, payload, headers, close)

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        http_status: int,
        ctype: str,
        payload: bytes,
        headers: dict[str, str] | None = None,
        close: bool = False,
    ) -> None:
        h.send_response(http_status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        if close:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        h.wfile.write(payload)

"""A threaded HTTP/1.1 server on a background thread, shared by the OTLP/HTTP receiver and the API,
and the one place their request bodies are read.

A body is taken only when it arrives whole: its length must be announced (``Content-Length``,
no chunked encoding), within the route's limit, and every announced byte must arrive before
the read deadline. Anything else raises ``BodyError``; the answer to it closes the connection,
so bytes that were not read are never taken for a next request. A client that is still
sending a refused body gets a few seconds in which what it sends is read and dropped, so
that it reads the answer rather than a connection reset.
"""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handle = Callable[[BaseHTTPRequestHandler, str], None]

DEFAULT_READ_TIMEOUT = 30.0
# Past its first read timeout, a body must average this rate: a client trickling a byte at a
# time cannot hold a thread (and an ingest slot) for longer than its size justifies.
MIN_BODY_BYTES_PER_SECOND = 64 << 10
_CHUNK = 1 << 20
LINGER_SECONDS = 5.0
LINGER_BYTES = 1 << 30
_DIGITS = re.compile(r"[0-9]{1,30}")


class BodyError(Exception):
    """A request body that is not taken: ``status`` is 400, 408, 411 or 413; ``incomplete``:
    fewer bytes arrived than announced."""

    def __init__(self, status: int, message: str, incomplete: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.incomplete = incomplete


class RequestHandler(BaseHTTPRequestHandler):
    """What ``read_body`` tracks per request: whether the body was dealt with (read, or lost
    with its client), and whether the client waits for ``100 Continue`` before sending it."""

    body_settled = False
    continue_pending = False

    def parse_request(self) -> bool:
        self.body_settled = self.continue_pending = False
        return super().parse_request()

    def handle_expect_100(self) -> bool:
        # Sent by read_body once the body is within its limit: a client that waits for it
        # gets a refusal without sending the body at all.
        self.continue_pending = True
        return True


def content_length(h: BaseHTTPRequestHandler) -> int | None:
    """The announced body length, or None when the request has no body."""
    if h.headers.get("Transfer-Encoding") is not None:
        raise BodyError(411, "Content-Length is required: chunked request bodies (Transfer-Encoding) are not supported")
    values = {v.strip() for header in h.headers.get_all("Content-Length") or () for v in header.split(",")}
    if not values:
        return None
    if len(values) > 1:
        raise BodyError(400, "conflicting Content-Length headers")
    text = values.pop()
    if not _DIGITS.fullmatch(text):
        raise BodyError(400, f"Content-Length must be a whole number of bytes, got {text[:40]!r}")
    return int(text)


def read_body(h: BaseHTTPRequestHandler, limit: int, required: bool = True) -> bytes:
    """The request's body, whole, or ``BodyError``. ``required``: a request without a length
    is refused (411) rather than taken as an empty body."""
    length = content_length(h)
    if length is None:
        if required:
            raise BodyError(411, "Content-Length is required")
        return b""
    if length > limit:
        raise BodyError(413, f"request body of {length} bytes is over the limit of {limit} bytes")
    if isinstance(h, RequestHandler):
        h.body_settled = True  # from here on, the body is read or its client is gone
        if h.continue_pending and length:
            h.continue_pending = False
            h.send_response_only(100)
            h.end_headers()
    if length == 0:
        return b""
    timeout = h.timeout or DEFAULT_READ_TIMEOUT
    began = time.monotonic()
    # BytesIO.getvalue() hands over its buffer without a copy: the body is held once.
    out = io.BytesIO()
    got = 0
    try:
        while got < length:
            # The time a body may take grows with what has arrived, not with what was announced:
            # a client announcing 64 MB and trickling a byte at a time is cut off after the timeout.
            left = began + timeout + got / MIN_BODY_BYTES_PER_SECOND - time.monotonic()
            if left <= 0:
                raise TimeoutError
            h.connection.settimeout(min(timeout, left))
            chunk = h.rfile.read1(min(length - got, _CHUNK))
            if not chunk:
                raise BodyError(400, f"the body ended after {got} of its {length} bytes", incomplete=True)
            out.write(chunk)
            got += len(chunk)
    except TimeoutError:
        raise BodyError(408, f"the body did not arrive in time ({got} of {length} bytes read)", True) from None
    except ConnectionError as exc:
        raise BodyError(400, f"the connection failed after {got} of {length} bytes: {exc}", True) from None
    finally:
        h.connection.settimeout(timeout)
    return out.getvalue()


MAX_CONNECTIONS = 512


class _Server(ThreadingHTTPServer):
    """A thread per connection, at most ``MAX_CONNECTIONS`` of them: a connection beyond that is
    closed at once, so idle or slow clients cannot make threads without end."""

    request_queue_size = 128

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class BackgroundHttpServer:
    """Serves ``handle(request_handler, method)`` on ``listen`` (host:port). A connection that
    sends nothing for ``read_timeout`` seconds is closed."""

    def __init__(self, listen: str, handle: Handle, name: str, read_timeout: float = DEFAULT_READ_TIMEOUT) -> None:
        host, _, port = listen.rpartition(":")
        log = logging.getLogger(f"modeltrace.{name}")

        class Handler(RequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = read_timeout

            def _handle(self, method: str) -> None:
                try:
                    handle(self, method)
                except (ConnectionError, TimeoutError) as exc:  # the client left or stopped reading
                    log.debug("%s %s: connection lost: %s", method, self.path, exc)
                    self.close_connection = True
                    return
                announced = "Content-Length" in self.headers or "Transfer-Encoding" in self.headers
                if self.close_connection and announced and not self.body_settled:
                    self._drop_unread_body()

            def _drop_unread_body(self) -> None:
                """After an answer that refused the body unread: read and drop what the client
                still sends, for a few seconds, so that it gets to read the answer."""
                if self.continue_pending:
                    return  # the client waits for 100 Continue: it sends nothing more
                deadline = time.monotonic() + min(LINGER_SECONDS, self.timeout or LINGER_SECONDS)
                dropped = 0
                try:
                    self.connection.shutdown(socket.SHUT_WR)  # the answer is complete
                    while dropped < LINGER_BYTES and (left := deadline - time.monotonic()) > 0:
                        self.connection.settimeout(left)
                        chunk = self.rfile.read1(1 << 16)
                        if not chunk:
                            break
                        dropped += len(chunk)
                except OSError:
                    pass

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                """The server's own refusals (malformed request line or headers) as JSON, closing."""
                self.log_error("code %d, message %s", code, message)
                data = json.dumps({"error": message or self.responses.get(code, ("error",))[0]}).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug(fmt, *args)

        self._server = _Server((host or "127.0.0.1", int(port)), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()

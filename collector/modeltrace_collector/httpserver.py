"""A threaded HTTP/1.1 server on a background thread, shared by the OTLP/HTTP receiver and the API."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handle = Callable[[BaseHTTPRequestHandler, str], None]


class BackgroundHttpServer:
    """Serves ``handle(request_handler, method)`` for GET and POST on ``listen`` (host:port)."""

    def __init__(self, listen: str, handle: Handle, name: str) -> None:
        host, _, port = listen.rpartition(":")
        log = logging.getLogger(f"modeltrace.{name}")

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                handle(self, "GET")

            def do_POST(self) -> None:
                handle(self, "POST")

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug(fmt, *args)

        self._server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()

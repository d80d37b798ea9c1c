"""An ASGI application served by uvicorn (with the httptools parser) on a thread of its own.

The collector runs several listeners in one process next to its writer and analysis threads,
so each gets an event loop on its own thread, and its socket is bound before ``start`` (its
port is known at once, also for ``:0``). What uvicorn leaves to us, the protocol below adds:

- a request's headers must arrive within ``read_timeout`` of the connection or of the previous
  answer (uvicorn times out only the wait between requests, and a client sending one header
  byte now and then would hold its connection for ever); a body must keep arriving too (see
  ``body.read_body``);
- a request the parser refuses (a bad ``Content-Length``, a bad chunk) gets a JSON 400 naming
  what, not a bare text one;
- closing after an answer first ends the answer (FIN) and reads and drops what the client still
  sends for a few seconds, so a client still sending a refused body reads the answer rather
  than a connection reset.

Idle connections cost a little memory and no thread: they take no request slot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .listener import Tls

BACKLOG = 1024
# Past this many open connections a new request is answered 503 (uvicorn's limit_concurrency).
MAX_CONNECTIONS = 4096
LINGER_SECONDS = 5.0
LINGER_BYTES = 1 << 30
STOP_SECONDS = 5.0

logging.getLogger("uvicorn.error").setLevel(logging.WARNING)


class _Lingering:
    """A transport whose ``close`` ends the answer and keeps reading (and dropping) for
    ``LINGER_SECONDS`` before it closes for good."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        self.lingering = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.is_closing():
            return
        self.lingering = True
        try:
            if self._transport.can_write_eof():
                self._transport.write_eof()  # sent once what is buffered has gone
            self._transport.resume_reading()
        except (OSError, RuntimeError):
            self.close_now()
            return
        self._timer = self._loop.call_later(LINGER_SECONDS, self.close_now)

    def close_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.lingering = True
        self._transport.close()


class Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for headers, JSON parser errors and a
    lingering close. ``header_seconds`` is set per listener."""

    header_seconds = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._linger = _Lingering(transport, self.loop)
        self._dropped = 0
        self._broken = False  # the parser failed: nothing more is parsed
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(self._linger)  # type: ignore[arg-type]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._linger.close_now()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._linger.lingering or self._broken:
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES:
                self._linger.close_now()
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._refuse(f"bad HTTP request: {exc}")
        except httptools.HttpParserUpgrade:
            self._refuse("protocol upgrades are not supported")

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def _refuse(self, message: str) -> None:
        """Answers a request the parser cannot take (400, closing). When the bytes that fail
        follow a whole request, that request's answer goes first and the connection ends after
        it; a request whose body was being read is cut."""
        self._broken = True
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if not cycle.more_body:
                cycle.keep_alive = False
                return
            cycle.disconnected = True  # the application reads the end of its body
            cycle.message_event.set()
            if cycle.response_started:
                self._linger.close_now()
                return
        body = json.dumps({"error": message}).encode()
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        self._linger.close()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_seconds, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.cycle is None or self.cycle.response_complete:  # no request under way
            self._linger.close_now()


def bind(listen: str) -> socket.socket:
    """A listening socket for ``host:port`` (``[::1]:port`` for IPv6)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, int(port)), family=family, backlog=BACKLOG)


class AsgiServer:
    """Serves ``app`` on ``listen`` (over TLS when ``tls`` is given) from a thread named ``name``.
    A connection that completes no request headers for ``read_timeout`` seconds is closed."""

    def __init__(self, listen: str, app: Any, name: str, read_timeout: float = 30.0, tls: Tls | None = None) -> None:
        self.name = name
        self._sock = bind(listen)
        self.port = self._sock.getsockname()[1]
        protocol = type(f"{name.title().replace('-', '')}Protocol", (Protocol,), {"header_seconds": read_timeout})
        config = uvicorn.Config(
            app,
            http=protocol,
            interface="asgi3",
            ws="none",
            proxy_headers=False,
            lifespan="off",
            loop="auto",  # uvloop where installed: about 15% more acknowledgements a second here
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_keep_alive=read_timeout,  # type: ignore[arg-type]
            limit_concurrency=MAX_CONNECTIONS,
            backlog=BACKLOG,
            timeout_graceful_shutdown=int(STOP_SECONDS),
            **(tls.uvicorn_settings() if tls else {}),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._failure: BaseException | None = None

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # reported by start() or alive()
            self._failure = exc
            logging.getLogger(f"modeltrace.{self.name}").exception("the %s listener stopped", self.name)

    def start(self, timeout: float = 15.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} listener did not start: {self._failure!r}")
            time.sleep(0.01)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def health(self) -> list[str]:
        return (
            [] if self.alive() or self._server.should_exit else [f"the {self.name} listener has stopped; see the log"]
        )

    def shutdown(self, timeout: float = STOP_SECONDS + 5) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()

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
  than a connection reset;
- a request line and headers of more than ``MAX_HEAD_BYTES`` get 431 (the parser would
  otherwise gather them for as long as they come, at a cost that grows with their square);
- a client that pipelines more than ``MAX_PIPELINE`` requests ahead of its answers is cut off,
  and while requests wait in its pipeline nothing more is read from it;
- a listener holds at most ``MAX_CONNECTIONS`` connections, and one client address at most
  ``MAX_CONNECTIONS_PER_CLIENT``; past either, a new connection closes the oldest idle one (no
  request under way: never answered, or between requests) of that client, else of anyone, and
  is itself closed only when every other is busy. Idle sockets, however many, cannot keep a
  new client (a probe, an exporter) out.

Idle connections cost a little memory and no thread.
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

from .listener import Tls, cannot_listen

BACKLOG = 1024
MAX_CONNECTIONS = 4096
MAX_CONNECTIONS_PER_CLIENT = 512
MAX_HEAD_BYTES = 64 << 10
MAX_PIPELINE = 32
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
    # per listener: open connections by client address, and the idle ones, oldest first
    clients: dict[str, int]
    idle: dict[Protocol, str]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._linger = _Lingering(transport, self.loop)
        self._dropped = 0
        self._broken = False  # the parser failed: nothing more is parsed
        self._header_timer: asyncio.TimerHandle | None = None
        self._heading = True  # between requests or in a request's head
        self._head_bytes = 0
        self._ended = 0  # requests whose last byte was parsed
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        super().connection_made(self._linger)  # type: ignore[arg-type]
        self.clients[self._client] = self.clients.get(self._client, 0) + 1
        self.idle[self] = self._client
        if self.clients[self._client] > MAX_CONNECTIONS_PER_CLIENT and not self._evict(self._client):
            self._shut_out()
            return
        if len(self.connections) > MAX_CONNECTIONS and not self._evict(None):
            self._shut_out()
            return
        self._arm()

    def _evict(self, client: str | None) -> bool:
        """Close the oldest idle connection (of ``client``, when given) other than this one."""
        for other, address in self.idle.items():
            if other is not self and (client is None or address == client):
                other._linger.close_now()
                self.idle.pop(other, None)
                return True
        return False

    def _shut_out(self) -> None:
        """Close at once, reading nothing more."""
        self._broken = True
        self._linger.close_now()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.idle.pop(self, None)
        self._linger.close_now()
        left = self.clients.get(self._client, 1) - 1
        if left > 0:
            self.clients[self._client] = left
        else:
            self.clients.pop(self._client, None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._linger.lingering or self._broken:
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES:
                self._linger.close_now()
            return
        self._unset_keepalive_if_required()
        if self._heading and self._head_bytes + len(data) > MAX_HEAD_BYTES:
            # feed what the head may still take; if that does not end it, the head is too long
            # (unless a request ended in it and the next one's head began)
            allowed = MAX_HEAD_BYTES - self._head_bytes
            ended = self._ended
            if not self._feed(data[:allowed]):
                return
            if self._heading and self._ended == ended:
                self._refuse(f"the request line and headers are longer than {MAX_HEAD_BYTES} bytes", 431)
            elif not self._broken:
                self.data_received(data[allowed:])
            return
        if self._heading:
            self._head_bytes += len(data)
        self._feed(data)

    def _feed(self, data: bytes) -> bool:
        """Parse ``data``; False when the parser refused it (and the client was answered)."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._refuse(f"bad HTTP request: {exc}")
            return False
        except httptools.HttpParserUpgrade:
            self._refuse("protocol upgrades are not supported")
            return False
        return True

    def on_message_begin(self) -> None:
        self._heading = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        if self._broken:
            return  # the rest of a chunk the connection was cut off in
        self._disarm()
        self._heading = False
        self.idle.pop(self, None)  # a request is under way
        super().on_headers_complete()
        if len(self.pipeline) > MAX_PIPELINE:  # no client waits for this many answers: cut it off
            self.pipeline.clear()
            self._shut_out()

    def on_body(self, body: bytes) -> None:
        if not self._broken:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._heading = True
        self._head_bytes = 0
        self._ended += 1
        if not self._broken:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._linger.lingering:
            self.idle[self] = self._client  # closing: the first to go should room be needed
            return
        running = self.cycle is not None and not self.cycle.response_complete  # the next pipelined one
        if self.pipeline:
            self.flow.pause_reading()  # the pipeline empties before more is read
        elif not running and not self.transport.is_closing():
            self.idle[self] = self._client  # idle again, the newest
        if not self.transport.is_closing():
            self._arm()

    def _refuse(self, message: str, status: int = 400) -> None:
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
        reason = b"Request Header Fields Too Large" if status == 431 else b"Bad Request"
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n%s" % (status, reason, len(body), body)
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
        try:
            self._sock = bind(listen)
        except OSError as exc:
            raise cannot_listen(name, listen, exc.strerror or str(exc)) from None
        self.port = self._sock.getsockname()[1]
        protocol = type(
            f"{name.title().replace('-', '')}Protocol",
            (Protocol,),
            {"header_seconds": read_timeout, "clients": {}, "idle": {}},
        )
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
            limit_concurrency=None,  # the protocol bounds connections (closing idle ones first)
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
                self._server.should_exit = True  # should it start after all, it stops at once
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

"""The HTTP protocol's bookkeeping, driven in process with a transport that records writes."""

from __future__ import annotations

import asyncio

import uvicorn
from uvicorn.server import ServerState

from modeltrace_collector.net import server


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 50000) if name == "peername" else default

    def write(self, data) -> None:
        self.written += bytes(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def slow_app(scope, receive, send):
    await asyncio.sleep(0.05)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def drive(chunks: list[bytes], answers: int):
    config = uvicorn.Config(slow_app, lifespan="off", log_config=None)
    config.load()
    cls = type("TestProtocol", (server.Protocol,), {"header_seconds": 30.0, "clients": {}, "idle": {}})
    protocol = cls(config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop())
    transport = Transport()
    protocol.connection_made(transport)
    seen = []
    for chunk in chunks:
        protocol.data_received(chunk)
    for _ in range(200):
        await asyncio.sleep(0.01)
        running = protocol.cycle is not None and not protocol.cycle.response_complete
        seen.append((running, protocol in cls.idle))
        if transport.written.count(b"HTTP/1.1 ") >= answers and not running:
            break
    return protocol, transport, seen


def test_a_connection_is_never_idle_while_a_pipelined_request_runs():
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    _, transport, seen = asyncio.run(drive([request * 2], answers=2))
    assert transport.written.count(b"HTTP/1.1 200") == 2
    assert (True, True) not in seen  # running and listed idle (evictable) at once
    assert seen[-1] == (False, True)  # idle once both are answered


def test_a_request_ending_inside_the_head_allowance_is_not_taken_for_a_long_head():
    body = b"x" * (server.MAX_HEAD_BYTES - 60)
    first = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    second = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert len(first) < server.MAX_HEAD_BYTES < len(first + second)
    _, transport, _ = asyncio.run(drive([first + second], answers=2))
    assert transport.written.count(b"HTTP/1.1 200") == 2, transport.written[:300]
    assert b"431" not in transport.written

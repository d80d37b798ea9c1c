"""Request bodies and answers of the ASGI listeners.

A body is taken only when it arrives whole, with ``Content-Length`` or chunked: within the
route's limit (refused from the announced length before a byte is read, or as soon as the
bytes read pass it), and before its deadline, which grows with the bytes that arrived; and no
read may wait longer than the read timeout (a client that sends most of a body and goes quiet
is dropped then, not at the end of its deadline). A listener holds at most its ``Budget`` of
body bytes at once; bytes count when they arrive, so idle and slow connections take nothing
they did not send.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from starlette.types import Receive, Scope, Send

# Past the read timeout, a body must average this rate: a client trickling a byte at a time
# cannot hold its connection (and the bytes it sent) for longer than its size justifies.
MIN_BODY_BYTES_PER_SECOND = 64 << 10
BUSY_WAIT_SECONDS = 5.0


class BodyError(Exception):
    """A body that is not taken: ``status`` 400, 408, 411, 413, 501 or 503 (the budget is spent);
    ``incomplete``: the client left or went quiet before its last byte."""

    def __init__(self, status: int, message: str, incomplete: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.incomplete = incomplete


def header(scope: Scope, name: bytes) -> str | None:
    """The last value of header ``name`` (lower case), or None."""
    value = None
    for key, v in scope["headers"]:
        if key == name:
            value = v
    return value.decode("latin-1") if value is not None else None


@dataclass
class Budget:
    """Body bytes a listener holds at once. A request waits up to ``BUSY_WAIT_SECONDS`` for room
    (503 past that); one request alone always gets room up to its route's limit."""

    limit: int
    used: int = 0
    _freed: asyncio.Event = field(default_factory=asyncio.Event)

    async def take(self, n: int) -> None:
        deadline = time.monotonic() + BUSY_WAIT_SECONDS
        while self.used and self.used + n > self.limit:
            self._freed.clear()
            try:
                await asyncio.wait_for(self._freed.wait(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                raise BodyError(503, "too many request bodies in memory at once: try again shortly") from None
        self.used += n

    def give(self, n: int) -> None:
        self.used -= n
        self._freed.set()


@dataclass
class Hold:
    """The bytes one request holds of a budget, given back by ``release``."""

    budget: Budget | None
    bytes: int = 0

    async def take(self, n: int) -> None:
        if self.budget is not None:
            await self.budget.take(n)
        self.bytes += n

    def release(self) -> None:
        if self.budget is not None and self.bytes:
            self.budget.give(self.bytes)
        self.bytes = 0


def announced(scope: Scope) -> tuple[int | None, bool]:
    """(Content-Length, chunked) as the request announced them; the parser has checked both,
    and that chunked is the last transfer coding. Another coding before it (``gzip, chunked``)
    is one this server does not implement: 501, as RFC 9112 asks."""
    length = header(scope, b"content-length")
    coding = header(scope, b"transfer-encoding")
    if coding is not None and coding.strip().lower() != "chunked":
        raise BodyError(501, f"transfer coding {coding!r} is not implemented: send chunked alone")
    return (int(length) if length is not None else None), coding is not None


async def read_body(
    scope: Scope,
    receive: Receive,
    limit: int,
    timeout: float,
    required: bool = True,
    hold: Hold | None = None,
) -> bytes:
    """The request's body, whole, or ``BodyError``. ``required``: a request without a body is
    refused (411) rather than taken as empty."""
    length, chunked = announced(scope)
    if length is None and not chunked:
        if required:
            raise BodyError(411, "a request body is required: send it with Content-Length or chunked")
        return b""
    if length is not None and length > limit:
        raise BodyError(413, f"request body of {length} bytes is over the limit of {limit} bytes")
    if length == 0:
        return b""
    hold = hold if hold is not None else Hold(None)
    parts: list[bytes] = []
    got = 0
    began = time.monotonic()
    of = f" of its {length}" if length is not None else ""
    while True:
        # the whole body's deadline, and no single wait longer than the read timeout
        left = min(began + timeout + got / MIN_BODY_BYTES_PER_SECOND - time.monotonic(), timeout)
        try:
            if left <= 0:
                raise asyncio.TimeoutError
            message = await asyncio.wait_for(receive(), left)
        except asyncio.TimeoutError:
            raise BodyError(408, f"the body did not arrive in time ({got}{of} bytes read)", True) from None
        if message["type"] != "http.request":
            raise BodyError(400, f"the connection ended after {got}{of} bytes of the body", True)
        chunk = message.get("body", b"")
        if chunk:
            got += len(chunk)
            if got > limit:
                raise BodyError(413, f"request body over the limit of {limit} bytes ({got} bytes read)")
            await hold.take(len(chunk))
            parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts) if len(parts) != 1 else parts[0]


async def send_bytes(
    send: Send,
    status: int,
    content_type: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    close: bool = False,
) -> None:
    """One whole answer; ``close`` ends the connection after it."""
    raw = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})

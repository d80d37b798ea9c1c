"""ClickHouse failures, classified once: wait and retry, or give up on the rows.

``RETRY``: storage is away or busy (unreachable, timeouts, memory, too many parts, a full
disk, a replica or Keeper problem). Retrying the same rows later will work, so the writer
waits and keeps them in the spool.

``REFUSED``: ClickHouse (or the driver, while encoding) refused these rows and will refuse
them again. The writer bisects the batch, stores what is accepted and moves the refused
rows to the dead-letter store.

``UNSURE``: anything else. The writer retries a few times, then treats it as refused, so an
unknown error cannot stall storage for good.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

RETRY = "retry"
REFUSED = "refused"
UNSURE = "unsure"

# Server-side codes where the same insert later succeeds: the server, the network or the
# cluster is the problem, not the rows. Names from ClickHouse's src/Common/ErrorCodes.cpp.
_RETRY_CODES = {
    3: "UNEXPECTED_END_OF_FILE",
    23: "CANNOT_READ_FROM_ISTREAM",
    24: "CANNOT_WRITE_TO_OSTREAM",
    32: "ATTEMPT_TO_READ_AFTER_EOF",
    60: "UNKNOWN_TABLE",  # the schema was dropped under us: migrations run again first
    74: "CANNOT_READ_FROM_FILE_DESCRIPTOR",
    75: "CANNOT_WRITE_TO_FILE_DESCRIPTOR",
    76: "CANNOT_OPEN_FILE",
    81: "UNKNOWN_DATABASE",
    159: "TIMEOUT_EXCEEDED",
    164: "READONLY",
    173: "CANNOT_ALLOCATE_MEMORY",
    202: "TOO_MANY_SIMULTANEOUS_QUERIES",
    203: "NO_FREE_CONNECTION",
    209: "SOCKET_TIMEOUT",
    210: "NETWORK_ERROR",
    225: "NO_ZOOKEEPER",
    236: "ABORTED",
    242: "TABLE_IS_READ_ONLY",
    243: "NOT_ENOUGH_SPACE",
    252: "TOO_MANY_PARTS",
    279: "ALL_CONNECTION_TRIES_FAILED",
    285: "TOO_FEW_LIVE_REPLICAS",
    286: "UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE",
    319: "UNKNOWN_STATUS_OF_INSERT",
    373: "SESSION_IS_LOCKED",
    394: "QUERY_WAS_CANCELLED",
    425: "SYSTEM_ERROR",
    497: "ACCESS_DENIED",
    516: "AUTHENTICATION_FAILED",
    573: "EPOLL_ERROR",  # the server (or embedded engine) is out of file descriptors
    999: "KEEPER_EXCEPTION",
    1000: "POCO_EXCEPTION",
}
# Retryable in principle, but a block that is too big for the memory limit stays too big:
# retried a few times like UNSURE, then bisected into smaller blocks.
_MEMORY_CODES = {241: "MEMORY_LIMIT_EXCEEDED"}
_CODE = re.compile(r"\bCode:\s*(\d+)")
# Errors of these generic codes that say the process ran out of a resource are not the rows'
# fault (the text is read only for them: other messages may quote the rows).
_GENERIC_CODES = {1000, 1001}  # POCO_EXCEPTION, STD_EXCEPTION
_EXHAUSTED = re.compile(r"too many open files|errno:? 24\b|cannot allocate memory", re.IGNORECASE)
_NAME = re.compile(r"\(([A-Z][A-Z0-9_]{2,})\)")


class StorageError(Exception):
    """Storage is unreachable or refused an operation. ``failure`` says which, when known."""

    def __init__(self, message: str, failure: Failure | None = None) -> None:
        super().__init__(message)
        self.failure = failure


class StorageBusy(StorageError):
    """Every connection of a lane is in use and none freed up in time: retry later."""


@dataclass(frozen=True)
class Failure:
    kind: str
    cause: str
    """A short, stable name for the cause: the ClickHouse error name or the exception type."""
    message: str


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    m = _CODE.search(str(exc))
    return int(m.group(1)) if m else None


def classify(exc: BaseException) -> Failure:
    """What kind of failure ``exc`` is (it or the exception it was raised from)."""
    if isinstance(exc, StorageError):
        if exc.failure is not None:
            return exc.failure
        if exc.__cause__ is None:
            return Failure(RETRY, "StorageError", str(exc))
        return classify(exc.__cause__)
    root = exc
    message = " ".join(str(root).split())[:500]
    code = _code(root)
    if code is not None:
        name = getattr(root, "name", None) or _known_name(code) or _name_in(message) or f"CODE_{code}"
        if code in _GENERIC_CODES and _EXHAUSTED.search(message):
            return Failure(RETRY, name, message)
        if code == 252 and "partitions" in message.lower():
            # TOO_MANY_PARTITIONS shares code 252 with TOO_MANY_PARTS; it is about the rows.
            return Failure(REFUSED, "TOO_MANY_PARTITIONS", message)
        if code in _RETRY_CODES:
            return Failure(RETRY, name, message)
        if code in _MEMORY_CODES:
            # "(total) memory limit exceeded": the whole server is short of memory (other queries
            # hold it), not these rows: wait. A limit of this insert alone: maybe the block.
            return Failure(RETRY if "(total)" in message else UNSURE, name, message)
        return Failure(REFUSED, name, message)
    if isinstance(root, (ConnectionError, TimeoutError, socket.timeout, OSError)):
        return Failure(RETRY, type(root).__name__, message)
    kind = _driver_kind(root)
    return Failure(kind, type(root).__name__, message)


def _driver_kind(exc: BaseException) -> str:
    try:
        from clickhouse_connect.driver import exceptions as ch
    except ImportError:  # pragma: no cover - the collector extra installs it
        return UNSURE
    if isinstance(exc, ch.OperationalError):  # transport: connection refused, reset, timeout
        return RETRY
    if isinstance(exc, (ch.DataError, ch.NotSupportedError)):
        return REFUSED  # raised while encoding the rows: they cannot be written as they are
    if isinstance(exc, (OverflowError, ValueError, TypeError, UnicodeError)):
        return REFUSED
    return UNSURE


def _known_name(code: int) -> str | None:
    return _RETRY_CODES.get(code) or _MEMORY_CODES.get(code)


def _name_in(message: str) -> str | None:
    m = _NAME.search(message)
    return m.group(1) if m else None

"""The durable spool: append-only segment files between the receivers and ClickHouse.

A request is acknowledged once its bytes are appended here (and, by the fsync policy,
on stable storage). Records carry a CRC32; a torn record at the tail of the newest
segment (a crash mid-append) is cut off on open, because it was never acknowledged.

The consumer reads records in order and commits its position only after ClickHouse
has them. Before inserting a batch it records the batch's bounds as an *intent*, so a
replay after a crash resends exactly the same batch, under the same deduplication token.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..config import SpoolSettings

_DEFAULTS = SpoolSettings()

log = logging.getLogger("modeltrace.spool")

_HEADER = struct.Struct("<IIQ")  # payload length, crc32 of payload, record sequence number
MAX_RECORD = 256 * 1024 * 1024
FSYNC_POLICIES = ("always", "batch", "never")


class SpoolFull(Exception):
    """The spool holds its maximum; the sender should retry later."""


@dataclass(frozen=True)
class Position:
    segment: int
    offset: int

    def as_list(self) -> list[int]:
        return [self.segment, self.offset]


@dataclass(frozen=True)
class Record:
    seq: int
    payload: bytes
    start: Position
    end: Position


def _segment_name(n: int) -> str:
    return f"{n:012d}.seg"


class Spool:
    def __init__(
        self,
        directory: str,
        *,
        max_bytes: int = _DEFAULTS.max_bytes,
        segment_bytes: int = _DEFAULTS.segment_bytes,
        fsync: str = _DEFAULTS.fsync,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {FSYNC_POLICIES}, not {fsync!r}")
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        os.makedirs(directory, exist_ok=True)
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._appended = threading.Condition(self._lock)
        self._segments = sorted(int(n.split(".")[0]) for n in os.listdir(directory) if n.endswith(".seg"))
        self._cursor_path = os.path.join(directory, "cursor.json")
        self.committed, self.intent, self.attempt = self._load_cursor()
        self._next_seq = 0
        self._bytes = 0
        self.corrupt = 0
        self._pending = 0
        if self._segments:
            self._repair_tail()
            self._next_seq = self._last_seq() + 1
            self._bytes = sum(os.path.getsize(self._path(n)) for n in self._segments)
            self._pending = sum(1 for _ in self._records_after(self.committed))
        else:
            self._segments = [max(self.committed.segment, 0)]
        self._fd = self._open_segment(self._segments[-1])
        self._retired: list[int] = []
        self._written = os.fstat(self._fd).st_size
        self._synced = (self._segments[-1], self._written)
        self.closed = False

    # -- appending (receivers) ----------------------------------------------------------

    def append(self, payload: bytes) -> int:
        """Store one record durably (per the fsync policy); returns its sequence number."""
        if len(payload) > MAX_RECORD:
            raise ValueError(f"record of {len(payload)} bytes exceeds {MAX_RECORD}")
        size = _HEADER.size + len(payload)
        with self._lock:
            if self.closed:
                raise SpoolFull("spool is closed")
            if self._bytes + size > self.max_bytes:
                raise SpoolFull(f"spool holds {self._bytes} of {self.max_bytes} bytes")
            if self._written + size > self.segment_bytes and self._written > 0:
                self._rotate()
            seq = self._next_seq
            record = memoryview(_HEADER.pack(len(payload), zlib.crc32(payload), seq) + payload)
            done = 0
            try:
                # Unbuffered writes: once os.write returns, the bytes are in the OS page cache
                # and survive the process being killed.
                while done < size:
                    done += os.write(self._fd, record[done:])
            except OSError as exc:
                # A full or failing disk: cut the partial record so later records stay readable.
                try:
                    os.ftruncate(self._fd, self._written)
                except OSError:
                    log.error("cannot truncate a partial spool record; the next open repairs it")
                raise SpoolFull(f"cannot write to the spool: {exc.strerror or exc}") from exc
            self._next_seq += 1
            self._written += size
            self._bytes += size
            self._pending += 1
            mark = (self._segments[-1], self._written)
            self._appended.notify_all()
        try:
            if self.fsync == "always":
                self._sync_to(mark, group=False)
            elif self.fsync == "batch":
                self._sync_to(mark, group=True)
        except OSError as exc:
            # Not acknowledged, so the client retries; the record itself is kept and will be
            # written too, so a failed fsync can store those spans twice (never zero times).
            raise SpoolFull(f"cannot sync the spool to disk: {exc.strerror or exc}") from exc
        return seq

    def _sync_to(self, mark: tuple[int, int], group: bool) -> None:
        # Group commit: one fsync covers every append made before it started.
        with self._sync_lock:
            if group and self._synced >= mark:
                return
            with self._lock:
                fd = self._fd
                target = (self._segments[-1], self._written)
                retired, self._retired = self._retired, []
            for old in retired:
                os.close(old)  # already synced when retired
            os.fsync(fd)
            self._synced = max(self._synced, target)

    def _rotate(self) -> None:
        os.fsync(self._fd)
        old = self._fd
        nxt = self._segments[-1] + 1
        self._fd = self._open_segment(nxt)
        self._segments.append(nxt)
        self._written = 0
        # A group commit may be syncing the old descriptor right now: it is closed by the next
        # commit instead (closing here could hand its number to another file mid-fsync).
        if self.fsync == "never":
            os.close(old)
        else:
            self._retired.append(old)
        _fsync_dir(self.directory)

    def _open_segment(self, n: int) -> int:
        return os.open(self._path(n), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    # -- reading (the writer) -----------------------------------------------------------

    def read(self, start: Position, max_records: int, max_bytes: int) -> list[Record]:
        """Records after ``start``, up to the given counts."""
        with self._lock:
            segments = [n for n in self._segments if n >= start.segment]
        out: list[Record] = []
        size = 0
        for n in segments:
            offset = start.offset if n == start.segment else 0
            for rec in self._scan(n, offset):
                out.append(rec)
                size += len(rec.payload)
                if len(out) >= max_records or size >= max_bytes:
                    return out
        return out

    def wait(self, start: Position, timeout: float) -> bool:
        """Wait until there is something to read after ``start``."""
        with self._lock:
            return self._appended.wait_for(
                lambda: self.closed or (self._segments[-1], self._written) > (start.segment, start.offset), timeout
            )

    def _scan(self, n: int, offset: int) -> Iterator[Record]:
        path = self._path(n)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return
        with f:
            f.seek(offset)
            pos = offset
            while True:
                header = f.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    return
                length, crc, seq = _HEADER.unpack(header)
                if length > MAX_RECORD:
                    return  # a damaged header: nothing after it can be framed
                payload = f.read(length)
                if len(payload) < length:
                    return  # a record still being written, or a torn tail cut on the next open
                end = pos + _HEADER.size + length
                if zlib.crc32(payload) == crc:
                    yield Record(seq, payload, Position(n, pos), Position(n, end))
                else:
                    self.corrupt += 1  # damaged on disk: skipped, counted, the rest still flows
                pos = end

    # -- progress -----------------------------------------------------------------------

    def begin(self, start: Position, end: Position, attempt: int = 0) -> None:
        """Record that the batch ``[start, end)`` is about to be written to storage, under the
        token of its ``attempt`` (0: its first token; the writer counts a new token up after a
        crash, and a later replay must use the same one)."""
        self.intent = (start, end)
        self.attempt = attempt
        self._save_cursor()

    def commit(self, end: Position, records: int) -> None:
        """Storage holds the ``records`` before ``end``: drop fully consumed segments."""
        self.committed = end
        self.intent = None
        self.attempt = 0
        self._save_cursor()
        with self._lock:
            self._pending = max(0, self._pending - records)
            while len(self._segments) > 1 and self._segments[0] < end.segment:
                n = self._segments.pop(0)
                path = self._path(n)
                self._bytes -= os.path.getsize(path)
                os.remove(path)

    def depth(self) -> tuple[int, int]:
        """(bytes on disk, records not yet committed to storage)."""
        with self._lock:
            return self._bytes, self._pending

    def _records_after(self, pos: Position) -> Iterator[Record]:
        for n in self._segments:
            if n >= pos.segment:
                yield from self._scan(n, pos.offset if n == pos.segment else 0)

    name = "spool"

    def start(self) -> None:
        """The spool is open from its construction."""

    def shutdown(self, timeout: float = 0.0) -> None:
        self.close()

    def health(self) -> list[str]:
        return ["the spool is closed"] if self.closed else []

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            os.fsync(self._fd)
            os.close(self._fd)
            for old in self._retired:
                os.close(old)
            self._retired = []
            self._appended.notify_all()

    # -- files --------------------------------------------------------------------------

    def _path(self, n: int) -> str:
        return os.path.join(self.directory, _segment_name(n))

    def _load_cursor(self) -> tuple[Position, tuple[Position, Position] | None, int]:
        try:
            with open(self._cursor_path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return Position(self._segments[0] if self._segments else 0, 0), None, 0
        committed = Position(*data["committed"])
        intent = data.get("intent")
        bounds = (Position(*intent[0]), Position(*intent[1])) if intent else None
        return committed, bounds, int(data.get("attempt", 0))

    def _save_cursor(self) -> None:
        data: dict[str, Any] = {"committed": self.committed.as_list()}
        if self.intent:
            data["intent"] = [self.intent[0].as_list(), self.intent[1].as_list()]
            if self.attempt:
                data["attempt"] = self.attempt
        tmp = self._cursor_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._cursor_path)

    def _repair_tail(self) -> None:
        last = self._segments[-1]
        end = 0
        for rec in self._scan(last, 0):
            end = rec.end.offset
        if os.path.getsize(self._path(last)) != end:
            with open(self._path(last), "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())

    def _last_seq(self) -> int:
        for n in reversed(self._segments):
            last = None
            for rec in self._scan(n, 0):
                last = rec.seq
            if last is not None:
                return last
        return -1


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

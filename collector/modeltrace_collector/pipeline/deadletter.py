"""Spans that ClickHouse refused for good, kept on disk with their reason.

Each entry holds one span as a single-span OTLP request (with its resource and scope), so a
replay goes through the receivers' checks and the whole pipeline again, and an export is
OTLP/JSON that any collector takes. Entries live in append-only JSON-lines files; the store
is bounded by ``max_bytes``: past it the oldest file is dropped, and its entries counted.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger("modeltrace.deadletter")


@dataclass
class DeadLetter:
    table: str
    cause: str
    message: str
    time_ms: int
    request: bytes | None
    """An ExportTraceServiceRequest holding the one refused span, or None if it was lost."""
    service: str = ""
    span_name: str = ""
    trace_id: str = ""
    span_id: str = ""
    start_ns: int = 0
    row: dict[str, Any] | None = None
    """The refused row as the writer built it, when the span itself could not be recovered."""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    def summary(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("request", "row")}
        out["replayable"] = self.request is not None
        return out

    def to_line(self) -> str:
        data = asdict(self)
        data["request"] = base64.b64encode(self.request).decode() if self.request is not None else None
        return json.dumps(data, separators=(",", ":"), default=str)

    @classmethod
    def from_line(cls, line: str) -> DeadLetter:
        data = json.loads(line)
        request = data.pop("request", None)
        return cls(request=base64.b64decode(request) if request else None, **data)


def _segment_name(n: int) -> str:
    return f"{n:012d}.jsonl"


class DeadLetters:
    def __init__(self, directory: str, max_bytes: int = 256 << 20, on_drop: Callable[[int], None] | None = None):
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = max(4096, max_bytes // 16)
        self._on_drop = on_drop
        self._lock = threading.Lock()
        os.makedirs(directory, exist_ok=True)
        self._segments = sorted(int(n.split(".")[0]) for n in os.listdir(directory) if n.endswith(".jsonl"))
        if self._segments:
            self._repair_tail(self._path(self._segments[-1]))
        self.dropped = 0
        self._causes: Counter[str] = Counter()
        self._ids: set[str] = set()
        for entry in self._scan():
            self._causes[entry.cause] += 1
            self._ids.add(entry.id)

    # -- adding -------------------------------------------------------------------------

    def add(self, letters: Iterable[DeadLetter]) -> int:
        """Append entries and sync them; drops the oldest files beyond ``max_bytes``.

        An entry whose id is already held is skipped (a batch replayed after a crash refuses
        the same rows again); returns how many were added."""
        with self._lock:
            fresh = [letter for letter in letters if letter.id not in self._ids]
            lines = [letter.to_line() + "\n" for letter in fresh]
            if not lines:
                return 0
            if not self._segments or self._size(self._segments[-1]) >= self.segment_bytes:
                self._segments.append(self._segments[-1] + 1 if self._segments else 0)
            path = self._path(self._segments[-1])
            with open(path, "a", encoding="utf-8") as f:
                f.writelines(lines)
                f.flush()
                os.fsync(f.fileno())
            for letter in fresh:
                self._causes[letter.cause] += 1
                self._ids.add(letter.id)
            self._enforce_bound()
            return len(fresh)

    def _enforce_bound(self) -> None:
        while len(self._segments) > 1 and self._total_bytes() > self.max_bytes:
            oldest = self._segments.pop(0)
            path = self._path(oldest)
            gone = list(self._read(path))
            os.remove(path)
            for entry in gone:
                self._causes[entry.cause] -= 1
                self._ids.discard(entry.id)
            self._causes += Counter()  # drop zero counts
            self.dropped += len(gone)
            log.error("dead-letter store is over %d bytes: dropped its %d oldest entries", self.max_bytes, len(gone))
            if self._on_drop is not None:
                self._on_drop(len(gone))

    # -- reading ------------------------------------------------------------------------

    def iter_entries(
        self, cause: str | None = None, ids: Iterable[str] | None = None, newest_first: bool = False
    ) -> Iterator[DeadLetter]:
        """Matching entries, one at a time, as the store was when the call began (entries added
        meanwhile, a replay's spans refused again among them, are not part of it). The files are
        read without holding the store's lock, so the writer never waits on a reader."""
        wanted = set(ids) if ids is not None else None
        with self._lock:
            snapshot = [(n, self._size(n)) for n in self._segments]
        if newest_first:
            snapshot.reverse()
        for n, size in snapshot:
            found = [
                e
                for e in self._read(self._path(n), size)
                if (cause is None or e.cause == cause) and (wanted is None or e.id in wanted)
            ]
            yield from (reversed(found) if newest_first else found)

    def entries(self, cause: str | None = None, ids: Iterable[str] | None = None) -> list[DeadLetter]:
        """Matching entries, oldest first."""
        return list(self.iter_entries(cause, ids))

    def remove(self, ids: Iterable[str]) -> int:
        """Delete entries by id (after a replay, or on request); returns how many went."""
        doomed = set(ids)
        removed = 0
        if not doomed:
            return 0
        with self._lock:
            for n in list(self._segments):
                path = self._path(n)
                entries = list(self._read(path))
                keep = [e for e in entries if e.id not in doomed]
                if len(keep) == len(entries):
                    continue
                for e in entries:
                    if e.id in doomed:
                        self._causes[e.cause] -= 1
                        self._ids.discard(e.id)
                removed += len(entries) - len(keep)
                if keep:
                    tmp = path + ".tmp"
                    with open(tmp, "w", encoding="utf-8") as f:
                        f.writelines(e.to_line() + "\n" for e in keep)
                        f.flush()
                        os.fsync(f.fileno())
                    os.replace(tmp, path)
                else:
                    os.remove(path)
                    self._segments.remove(n)
            self._causes += Counter()
        return removed

    def counts(self) -> dict[str, int]:
        """Entries held, by cause."""
        with self._lock:
            return dict(self._causes)

    def total(self) -> int:
        with self._lock:
            return sum(self._causes.values())

    def bytes(self) -> int:
        with self._lock:
            return self._total_bytes()

    # -- files --------------------------------------------------------------------------

    def _path(self, n: int) -> str:
        return os.path.join(self.directory, _segment_name(n))

    def _size(self, n: int) -> int:
        try:
            return os.path.getsize(self._path(n))
        except FileNotFoundError:
            return 0

    def _total_bytes(self) -> int:
        return sum(self._size(n) for n in self._segments)

    def _scan(self) -> Iterable[DeadLetter]:
        for n in self._segments:
            yield from self._read(self._path(n))

    @staticmethod
    def _repair_tail(path: str) -> None:
        """Cut a line torn by a crash mid-append, so the next entry starts on a line of its own."""
        with open(path, "rb+") as f:
            data = f.read()
            end = data.rfind(b"\n") + 1
            if end != len(data):
                f.truncate(end)

    @staticmethod
    def _read(path: str, limit: int | None = None) -> Iterable[DeadLetter]:
        """The entries of one file (of its first ``limit`` bytes)."""
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return
        with f:
            done = 0
            for raw in f:
                done += len(raw)
                if limit is not None and done > limit:
                    return  # added after the snapshot
                line = raw.decode("utf-8", "replace")
                if not line.endswith("\n"):
                    return  # a torn last line (a crash mid-append)
                try:
                    yield DeadLetter.from_line(line)
                except (ValueError, TypeError, KeyError):
                    log.warning("skipping a damaged dead-letter line in %s", path)


_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def otlp_json(request: bytes) -> dict[str, Any]:
    """A stored request as OTLP/JSON (ids in hex, as the OTLP/HTTP JSON encoding wants)."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    message = ExportTraceServiceRequest()
    message.ParseFromString(request)
    data = json_format.MessageToDict(message)

    def hex_ids(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _ID_KEYS and isinstance(value, str):
                    node[key] = base64.b64decode(value).hex()
                else:
                    hex_ids(value)
        elif isinstance(node, list):
            for item in node:
                hex_ids(item)

    hex_ids(data)
    return data

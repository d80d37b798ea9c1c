"""Sampled cProfile hotspots.

One profiler per process: cProfile (and, from Python 3.12, ``sys.monitoring``) allows only
one active profiling tool, so a call profiles only if it can take the process-wide slot
without waiting, and a profiler someone else already started simply means "not sampled".
"""

from __future__ import annotations

import cProfile
import os
import threading
from typing import Any

from . import jsonenc

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_slot = threading.Lock()
TOP_N = 10


class Session:
    """A profiler holding the process slot for one call."""

    __slots__ = ("_prof",)

    def __init__(self, prof: cProfile.Profile) -> None:
        self._prof = prof

    def enable(self) -> None:
        self._prof.enable()

    def disable(self) -> None:
        self._prof.disable()

    def finish(self) -> str:
        """Stop profiling, release the slot and return the hotspots as JSON."""
        try:
            self._prof.disable()
            return hotspots(self._prof.getstats())
        finally:
            _slot.release()


def start() -> Session | None:
    """Take the process-wide slot and start a profiler, or None if it is busy."""
    if not _slot.acquire(blocking=False):
        return None
    try:
        prof = cProfile.Profile()
        prof.enable()
    except (ValueError, RuntimeError):
        # Another profiler owns the interpreter's profiling hook (Python 3.12+ raises).
        _slot.release()
        return None
    except BaseException:
        _slot.release()
        raise
    return Session(prof)


def _reinit_after_fork() -> None:
    global _slot
    _slot = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


def _describe(code: Any) -> tuple[str, str, int] | None:
    if isinstance(code, str):
        if "_lsprof.Profiler" in code:
            return None
        return code, "~", 0
    filename = code.co_filename
    if filename.startswith(_PACKAGE_DIR):
        return None
    return getattr(code, "co_qualname", code.co_name), filename, code.co_firstlineno


def hotspots(stats: list[Any], top: int = TOP_N) -> str:
    """The top functions by self time from ``Profile.getstats()``, as JSON."""
    rows: list[tuple[float, dict[str, Any]]] = []
    for entry in stats:
        where = _describe(entry.code)
        if where is None:
            continue
        function, filename, line = where
        rows.append(
            (
                entry.inlinetime,
                {
                    "function": function,
                    "file": filename,
                    "line": line,
                    "calls": entry.callcount,
                    "self_ms": round(entry.inlinetime * 1000.0, 4),
                    "cum_ms": round(entry.totaltime * 1000.0, 4),
                },
            )
        )
    rows.sort(key=lambda r: r[0], reverse=True)
    return jsonenc.dumps([r[1] for r in rows[:top]])


class LatencyWindow:
    """A model's recent latencies and their running p99, for slow-call profiling.

    Updates are lock-free: under concurrent calls a sample can be lost or a threshold
    computed from a slightly stale window, which only shifts when profiling triggers.
    """

    __slots__ = ("_n", "_ring", "_size", "boost", "threshold_ns")

    RECOMPUTE_EVERY = 128
    MIN_SAMPLES = 200

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._ring = [0] * size
        self._n = 0
        self.threshold_ns: int | None = None
        self.boost = 0

    def observe(self, duration_ns: int, after_slow: int) -> None:
        n = self._n
        self._ring[n % self._size] = duration_ns
        self._n = n + 1
        threshold = self.threshold_ns
        if threshold is not None and duration_ns > threshold and self.boost == 0:
            self.boost = after_slow
        if (n + 1) % self.RECOMPUTE_EVERY == 0 and n + 1 >= self.MIN_SAMPLES:
            window = sorted(self._ring[: min(n + 1, self._size)])
            self.threshold_ns = window[min(len(window) - 1, int(len(window) * 0.99))]

    def take_boost(self) -> bool:
        if self.boost > 0:
            self.boost -= 1
            return True
        return False

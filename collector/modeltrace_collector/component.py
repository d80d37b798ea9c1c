"""One contract for the parts of a running collector, and the order they start and stop in.

A part (receiver, spool, writer, forwarder, scheduler, server) has ``name``, ``start()``,
``shutdown(timeout)`` and ``health()``: the reasons it cannot do its work now, none when it can.
``Parts`` starts them one after another and, when one fails to start, shuts down those already
started (newest first) before the error goes on; it stops them in ``stop_rank`` order (lowest
first; the reverse of starting among equals) within one deadline; and ``/ready`` is the health
of every part it holds.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

log = logging.getLogger("modeltrace.collector")


class Component(Protocol):
    name: str

    def start(self) -> None: ...

    def shutdown(self, timeout: float) -> None: ...

    def health(self) -> list[str]: ...


class Parts:
    def __init__(self) -> None:
        self._started: list[tuple[int, float, Component]] = []

    def start(self, part: Component, stop_rank: int = 1, stop_seconds: float = 5.0) -> None:
        """Start ``part``; when it fails, stop every part started so far and raise. It is
        stopped in ``stop_rank`` order, given at most ``stop_seconds``."""
        try:
            part.start()
        except BaseException:
            log.error("the %s did not start; stopping what had started", part.name)
            self.shutdown(30.0)
            raise
        self._started.append((stop_rank, stop_seconds, part))

    def shutdown(self, timeout: float, seconds: dict[str, float] | None = None) -> None:
        """Stop every part (lowest rank first, newest first among equals), each within its
        ``stop_seconds`` (or ``seconds[name]``) and all within ``timeout``; a part that fails
        to stop is logged and the others still stop."""
        deadline = time.monotonic() + timeout
        order = sorted(enumerate(self._started), key=lambda item: (item[1][0], -item[0]))
        for _, (_, bound, part) in order:
            bound = (seconds or {}).get(part.name, bound)
            try:
                part.shutdown(max(0.5, min(bound, deadline - time.monotonic())))
            except Exception:
                log.exception("the %s did not stop cleanly", part.name)
        self._started.clear()

    def health(self) -> list[str]:
        """The reasons of every started part that cannot do its work now."""
        reasons = []
        for _, _, part in self._started:
            try:
                reasons += part.health()
            except Exception as exc:  # a health check must not take /ready down with it
                reasons.append(f"the {part.name} cannot tell its health: {exc}")
        return reasons

    def __contains__(self, part: object) -> bool:
        return any(p is part for _, _, p in self._started)

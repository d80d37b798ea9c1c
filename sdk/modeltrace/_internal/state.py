"""Process-wide state: where spans go, the clock, prediction ids."""

from __future__ import annotations

import contextvars
import itertools
import os
import time
from collections.abc import Callable

from opentelemetry import trace

from ..version import __version__

SCOPE = "modeltrace"

now_ns: Callable[[], int] = time.time_ns
"""The span clock; ``modeltrace.testing`` swaps it for a deterministic one."""

_provider: trace.TracerProvider | None = None
_tracer: trace.Tracer | None = None


def set_provider(provider: trace.TracerProvider | None) -> None:
    """Send modeltrace spans to ``provider`` (None: the global provider)."""
    global _provider, _tracer
    _provider = provider
    _tracer = None


def provider() -> trace.TracerProvider:
    return _provider if _provider is not None else trace.get_tracer_provider()


def tracer() -> trace.Tracer:
    t = _tracer
    if t is None:
        t = _resolve_tracer()
    return t


def _resolve_tracer() -> trace.Tracer:
    global _tracer
    # Before anyone configures OpenTelemetry this is a proxy tracer, which hands over to the
    # real provider once one is set globally; ``configure()`` resets the cache either way.
    _tracer = provider().get_tracer(SCOPE, __version__)
    return _tracer


prediction_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("modeltrace_prediction_id", default=None)

_counter = itertools.count()
_prefix = os.urandom(8).hex()


def local_prediction_id() -> str:
    """A unique id for calls whose span has no valid context (tracing disabled)."""
    return f"{_prefix}{next(_counter):016x}"


def _reseed_after_fork() -> None:
    global _prefix, _counter
    _prefix = os.urandom(8).hex()
    _counter = itertools.count()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_after_fork)

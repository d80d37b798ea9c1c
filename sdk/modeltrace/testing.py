"""Helpers for testing code that uses modeltrace.

    from modeltrace.testing import capture_spans

    def test_predict_is_traced():
        with capture_spans() as spans:
            predict([[1.0, 2.0]])
        assert spans.dicts()[0]["attributes"]["ml.model.name"] == "fraud"

Inside ``capture_spans`` modeltrace sends its spans to an in-memory exporter instead of
the configured one; with ``deterministic=True`` (the default) trace/span ids count up
from 1, the clock ticks one second per reading and row sampling is seeded, so whole
spans can be compared with ``==``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

from . import attributes as ml
from ._internal import capture, errors, state


class IncrementalIdGenerator(IdGenerator):
    """Trace and span ids 1, 2, 3, ... for reproducible spans."""

    def __init__(self) -> None:
        self._trace = itertools.count(1)
        self._span = itertools.count(1)

    def generate_trace_id(self) -> int:
        return next(self._trace)

    def generate_span_id(self) -> int:
        return next(self._span)


class TickingClock:
    """A clock that advances ``step_ns`` on each reading, starting at ``start_ns``."""

    def __init__(self, start_ns: int = 1_000_000_000, step_ns: int = 1_000_000_000) -> None:
        self._ticks = itertools.count(start_ns, step_ns)

    def __call__(self) -> int:
        return next(self._ticks)


def span_to_dict(span: ReadableSpan, parse_json: bool = True) -> dict[str, Any]:
    """A plain dict of one finished span; ``ml.*`` JSON attributes parsed when asked."""
    attributes: dict[str, Any] = {}
    for key, value in (span.attributes or {}).items():
        if parse_json and key in ml.JSON_TEXT and isinstance(value, str):
            value = json.loads(value)
        elif isinstance(value, tuple):
            value = list(value)
        attributes[key] = value
    ctx = span.get_span_context()
    if ctx is None:
        raise ValueError("a span without a context")
    out: dict[str, Any] = {
        "name": span.name,
        "context": {"trace_id": ctx.trace_id, "span_id": ctx.span_id},
        "parent": span.parent.span_id if span.parent is not None else None,
        "kind": span.kind.name,
        "start_time": span.start_time,
        "end_time": span.end_time,
        "status": span.status.status_code.name,
        "attributes": attributes,
    }
    if span.status.description:
        out["status_description"] = span.status.description
    if span.events:
        out["events"] = [
            {
                "name": e.name,
                "timestamp": e.timestamp,
                "attributes": {k: v for k, v in (e.attributes or {}).items() if k != "exception.stacktrace"},
            }
            for e in span.events
        ]
    if span.links:
        out["links"] = [{"trace_id": link.context.trace_id, "span_id": link.context.span_id} for link in span.links]
    return out


class CapturedSpans:
    """The spans finished inside :func:`capture_spans`."""

    def __init__(self, exporter: InMemorySpanExporter, provider: TracerProvider) -> None:
        self.exporter = exporter
        self.provider = provider

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def dicts(self, parse_json: bool = True) -> list[dict[str, Any]]:
        """Every finished span as a plain dict, in the order they ended."""
        return [span_to_dict(s, parse_json) for s in self.spans()]

    def attributes(self, name: str | None = None) -> list[dict[str, Any]]:
        """Parsed attributes of each span (only those named ``name`` when given)."""
        return [d["attributes"] for d in self.dicts() if name is None or d["name"] == name]

    def clear(self) -> None:
        self.exporter.clear()


@contextmanager
def capture_spans(*, deterministic: bool = True, seed: int = 0) -> Iterator[CapturedSpans]:
    """Route modeltrace spans into memory for the duration of the block."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=IncrementalIdGenerator() if deterministic else None, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous_provider = state._provider
    previous_clock = state.now_ns
    state.set_provider(provider)
    if deterministic:
        state.now_ns = TickingClock()
        capture.rng.seed(seed)
    try:
        yield CapturedSpans(exporter, provider)
    finally:
        state.set_provider(previous_provider)
        state.now_ns = previous_clock
        provider.shutdown()


def internal_errors() -> dict[str, int]:
    """Failures inside modeltrace so far, by where they happened (each was swallowed)."""
    return errors.error_counts()

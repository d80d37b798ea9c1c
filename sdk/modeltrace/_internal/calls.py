"""The per-call path: start a span, describe inputs, end it with outputs or the error.

Every entry point here catches its own failures (``internal_error``) so that a bug in
modeltrace turns the call into a plain, uninstrumented one instead of breaking the model.
"""

from __future__ import annotations

import contextlib
from contextvars import Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from .. import attributes as ml
from . import capture, state
from .errors import internal_error
from .profiler import Session
from .profiler import start as start_profiler
from .spec import MISSING, ModelSpec
from .tables import to_numpy, to_table

_INTERNAL = SpanKind.INTERNAL
_set_span_in_context = trace.set_span_in_context
_attach = otel_context.attach
_detach = otel_context.detach


class Call:
    __slots__ = (
        "attrs", "count", "idx", "in_rows", "items", "pid", "profile", "span", "spec", "start_ns", "token", "values",
    )  # fmt: skip

    def __init__(self, spec: ModelSpec, span: trace.Span, start_ns: int) -> None:
        self.spec = spec
        self.span = span
        self.start_ns = start_ns
        self.pid: str | None = None
        self.token: Token[Context] | None = None
        self.attrs: dict[str, Any] | None = None
        self.idx: list[int] | None = None
        self.in_rows: int | None = None
        self.profile: Session | None = None
        self.items: list[Any] | None = None
        self.count = 0
        self.values = spec.with_values

    # -- context, entered around each stretch of user code ---------------------------------

    def resume(self) -> None:
        try:
            self.token = _attach(_set_span_in_context(self.span))
            if self.profile is not None:
                self.profile.enable()
        except Exception:
            internal_error("resume")

    def suspend(self) -> None:
        try:
            if self.profile is not None:
                self.profile.disable()
            if self.token is not None:
                _detach(self.token)
                self.token = None
        except Exception:
            internal_error("suspend")

    # -- end of the call ------------------------------------------------------------------

    def finish(self, result: Any, end_ns: int) -> None:
        """End the span after a successful call."""
        try:
            self.suspend()
            self._close_profile(end_ns)
            attrs = self.attrs
            if attrs is not None:
                self._describe_output(result, attrs)
                self.span.set_attributes(attrs)
            self.span.end(end_time=end_ns)
            # the call that just returned is "the last one made here", not a traced call it made
            state.prediction_id.set(self.pid)
        except Exception:
            self._abandon("finish")

    def fail(self, exc: BaseException, end_ns: int) -> None:
        """End the span for a call that raised; the caller re-raises ``exc`` unchanged."""
        try:
            self.suspend()
            self._close_profile(end_ns)
            span = self.span
            if span.is_recording():
                tp = type(exc)
                error_type = tp.__qualname__ if tp.__module__ == "builtins" else f"{tp.__module__}.{tp.__qualname__}"
                attrs = self.attrs if self.attrs is not None else {}
                attrs["error.type"] = error_type
                if self.items is not None:
                    attrs[ml.OUTPUT_ROWS] = self.count
                span.set_attributes(attrs)
                span.record_exception(exc, escaped=True)
                span.set_status(Status(StatusCode.ERROR, f"{tp.__name__}: {exc}"))
            span.end(end_time=end_ns)
            state.prediction_id.set(self.pid)
        except Exception:
            self._abandon("fail")

    def observe_item(self, item: Any) -> None:
        """Keep the first items a generator yields as its output sample."""
        self.count += 1
        items = self.items
        if items is not None and len(items) < self.spec.sample_rows:
            items.append(item)

    def _close_profile(self, end_ns: int) -> None:
        session = self.profile
        if session is None:
            self.spec.window.observe(end_ns - self.start_ns, self.spec.profile_after_slow)
            return
        self.profile = None
        hot = session.finish()
        if self.attrs is not None:
            self.attrs[ml.PROFILE_HOTSPOTS] = hot

    def _describe_output(self, result: Any, attrs: dict[str, Any]) -> None:
        spec = self.spec
        if self.items is not None:
            result = self.items
            attrs[ml.OUTPUT_ROWS] = self.count
            if not (spec.with_sample and self.values) or not result:
                return
            out = capture.capture_output(
                _flatten_items(result), spec.output, spec.operation, spec.labels, None, None, spec.sample_rows, True
            )
            if out.sample is not None:
                attrs[ml.OUTPUT_SAMPLE] = out.sample
            return
        out = capture.capture_output(
            result,
            spec.output,
            spec.operation,
            spec.labels,
            self.idx,
            self.in_rows,
            spec.sample_rows,
            spec.with_sample and self.values,
        )
        if out.rows is not None:
            attrs[ml.OUTPUT_ROWS] = out.rows
        if out.columns is not None:
            attrs[ml.OUTPUT_COLUMNS] = out.columns
        if out.sample is not None:
            attrs[ml.OUTPUT_SAMPLE] = out.sample
        if spec.with_preview and self.values:
            text, cut = capture.preview(result, None, spec.preview_chars)
            attrs[ml.OUTPUT_VALUE] = text
            attrs[ml.OUTPUT_TRUNCATED] = cut

    def _abandon(self, where: str) -> None:
        session, self.profile = self.profile, None
        # already failing: finish what can be finished, then report the first error once
        if session is not None:
            with contextlib.suppress(Exception):
                session.finish()
        with contextlib.suppress(Exception):
            if self.span.is_recording():
                self.span.end()
        internal_error(where)


def _flatten_items(items: list[Any]) -> Any:
    """Generator outputs: one row per yielded item when the items are scalars."""
    if all(isinstance(i, (int, float, str, bool)) for i in items):
        return items
    try:
        import numpy as np

        arrays = [to_numpy(i) for i in items]
        if any(a is None for a in arrays):
            return items
        return np.concatenate([np.atleast_1d(a) for a in arrays if a is not None])
    except Exception:
        return items


def begin(spec: ModelSpec, args: tuple[Any, ...], kwargs: dict[str, Any], stream: bool = False) -> Call | None:
    """Start the span for one call, or return None if instrumentation fails."""
    span: trace.Span | None = None
    try:
        start_ns = state.now_ns()
        span = state.tracer().start_span(
            spec.span_name, kind=_INTERNAL, attributes=spec.attributes, start_time=start_ns
        )
        call = Call(spec, span, start_ns)
        ctx = span.get_span_context()
        pid = f"{ctx.trace_id:032x}{ctx.span_id:016x}" if ctx.is_valid else state.local_prediction_id()
        state.prediction_id.set(pid)
        call.pid = pid
        if stream:
            call.items = []
        if span.is_recording():
            if spec.capture_rate < 1.0 and call.values:
                call.values = capture.rng.random() < spec.capture_rate
            attrs: dict[str, Any] = {ml.PREDICTION_ID: pid}
            call.attrs = attrs
            value = spec.input_of(args, kwargs)
            if value is not MISSING:
                _describe_input(call, value, attrs)
            rate = spec.profile_rate
            if spec.window.take_boost() or (rate and capture.rng.random() < rate):
                call.profile = start_profiler()
                if call.profile is not None:
                    call.profile.disable()  # resume() enables it around the model's own code only
                    attrs[ml.PROFILE_SAMPLED] = True
        return call
    except Exception:
        if span is not None:
            with contextlib.suppress(Exception):
                span.end()
        internal_error("begin")
        return None


def _describe_input(call: Call, value: Any, attrs: dict[str, Any]) -> None:
    spec = call.spec
    table = to_table(value, spec.feature_names)
    if table is None:
        tp = type(value)
        attrs[ml.INPUT_TYPE] = f"{tp.__module__}.{tp.__qualname__}"
        if spec.with_preview and call.values:
            attrs[ml.INPUT_VALUE], attrs[ml.INPUT_TRUNCATED] = capture.preview(value, None, spec.preview_chars)
        return
    call.in_rows = table.rows
    attrs[ml.INPUT_ROWS] = table.rows
    attrs[ml.INPUT_COLUMNS] = table.columns
    if table.shape is not None:
        attrs[ml.INPUT_SHAPE] = list(table.shape)
    if not call.values or table.rows == 0:
        return
    if spec.redaction is not None:
        table, removed = spec.redaction.apply(table)
        if removed:
            attrs[ml.INPUT_REDACTED] = removed
    if not table.has_values or table.columns > spec.max_features:
        return
    idx = capture.sample_index(table.rows, spec.rows_to_sample(table.columns))
    call.idx = idx
    if spec.with_sample:
        attrs[ml.INPUT_SAMPLE] = capture.input_sample(table, idx)
    if spec.always_stats or idx is not None:
        attrs[ml.INPUT_STATS] = capture.input_stats(table)
    if spec.with_preview:
        attrs[ml.INPUT_VALUE], attrs[ml.INPUT_TRUNCATED] = capture.preview(value, table, spec.preview_chars)

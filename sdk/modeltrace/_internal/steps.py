"""``modeltrace.step``: child spans for the stages around a prediction."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import Token
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from .. import attributes as ml
from . import state
from .errors import internal_error

F = TypeVar("F", bound=Callable[..., Any])


def record_error(span: trace.Span, exc: BaseException) -> None:
    """Mark ``span`` as failed by ``exc`` the way OpenTelemetry's conventions say."""
    if not span.is_recording():
        return
    tp = type(exc)
    span.set_attribute(
        "error.type", tp.__qualname__ if tp.__module__ == "builtins" else f"{tp.__module__}.{tp.__qualname__}"
    )
    span.record_exception(exc, escaped=True)
    span.set_status(Status(StatusCode.ERROR, f"{tp.__name__}: {exc}"))


class step:
    """A child span around one stage of serving: ``with modeltrace.step("features"):``.

    Also a decorator for sync and async functions. The step's span is a child of the
    current span (usually the model call's), so Jaeger shows which stage took the time.
    """

    def __init__(self, name: str, **attributes: Any) -> None:
        self.name = name
        self.attributes = {ml.STEP_NAME: name, **attributes}
        self._open: list[tuple[trace.Span, Token[Context]]] = []

    def _start(self) -> tuple[trace.Span, Token[Context]] | None:
        try:
            span = state.tracer().start_span(
                self.name, kind=SpanKind.INTERNAL, attributes=self.attributes, start_time=state.now_ns()
            )
            return span, otel_context.attach(trace.set_span_in_context(span))
        except Exception:
            internal_error("step.start")
            return None

    @staticmethod
    def _end(opened: tuple[trace.Span, Token[Context]] | None, exc: BaseException | None) -> None:
        if opened is None:
            return
        span, token = opened
        try:
            otel_context.detach(token)
            if exc is not None:
                record_error(span, exc)
            span.end(end_time=state.now_ns())
        except Exception:
            internal_error("step.end")

    def __enter__(self) -> step:
        opened = self._start()
        if opened is not None:
            self._open.append(opened)
        return self

    def __exit__(self, tp: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._end(self._open.pop() if self._open else None, exc)

    async def __aenter__(self) -> step:
        return self.__enter__()

    async def __aexit__(
        self, tp: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(tp, exc, tb)

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                opened = self._start()
                try:
                    result = await func(*args, **kwargs)
                except BaseException as exc:
                    self._end(opened, exc)
                    raise
                self._end(opened, None)
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            opened = self._start()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                self._end(opened, exc)
                raise
            self._end(opened, None)
            return result

        return wrapper  # type: ignore[return-value]

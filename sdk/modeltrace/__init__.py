"""modeltrace: one decorator turns model calls into OpenTelemetry spans.

    import modeltrace

    modeltrace.configure(service_name="fraud-api")        # OTLP to localhost, or OTEL_* env

    @modeltrace.trace_model(name="fraud", version="3.2")
    def predict(features):
        ...

Each call becomes a span carrying the model's identity, a sample and statistics of its
inputs, its outputs, its latency and, for a sampled subset of calls, cProfile hotspots.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._internal import state
from ._internal.config import configure, flush, shutdown
from ._internal.decorator import wrap
from ._internal.feedback import log_actual
from ._internal.instrument import instrument, uninstrument
from ._internal.reference import set_reference
from ._internal.spec import ModelSpec, TraceOptions
from ._internal.steps import step
from .version import __version__

if TYPE_CHECKING:  # annotations only: nothing extra is imported at run time
    from typing_extensions import Unpack

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "__version__",
    "configure",
    "current_prediction_id",
    "flush",
    "instrument",
    "log_actual",
    "set_reference",
    "shutdown",
    "step",
    "trace_model",
    "uninstrument",
]


@overload
def trace_model(func: F, /) -> F: ...


@overload
def trace_model(
    func: None = None, /, *, name: str | None = None, **options: Unpack[TraceOptions]
) -> Callable[[F], F]: ...


def trace_model(
    func: Callable[..., Any] | None = None, /, *, name: str | None = None, **options: Unpack[TraceOptions]
) -> Any:
    """Trace every call of a model function as an OpenTelemetry span.

    Works on functions, methods, async functions, generators and async generators (their
    span covers the whole iteration). The wrapped function keeps its signature, result
    and exceptions; a failure inside modeltrace never reaches the caller.

    Args:
        name: model name (``ml.model.name``); defaults to the function's name.
        version, framework: model identity attributes.
        operation: ``ml.operation.name``; the span is named ``"{operation} {name}"``.
        feature_names: names for array inputs without their own (DataFrames and dicts
            name their columns); otherwise ``f0..fN``.
        sample_rows: rows of each call sampled uniformly into ``ml.input.sample``.
        sample_values: at most this many values (rows x features) per sample, so wide
            batches sample fewer rows; None lifts the cap. Formatting sampled values
            is most of modeltrace's per-call cost.
        capture: ``"sample"`` (sample + statistics), ``"stats"`` (statistics, no row
            values), ``"full"`` (also ``ml.input.value``/``ml.output.value`` previews) or
            ``"none"`` (shapes only: no values leave the process).
        capture_rate: fraction of calls whose values are captured (shapes always are);
            below 1 it trades drift data for per-call cost on hot, high-traffic models.
        redact: feature names, compiled regexes or a predicate on the feature name;
            matching features never leave the process.
        profile_rate: fraction of calls run under cProfile (``ml.profile.hotspots``).
        profile_after_slow: the calls after one slower than the model's running p99
            that are profiled too (0 turns this off).
        labels: class labels for score outputs (``predict_proba``).
        output: ``"auto"``, ``"prediction"``, ``"scores"`` (top label and its score),
            ``"shape"`` or ``"none"``.
        input_arg: the parameter (name or position) holding the model input; default the
            first parameter other than ``self``/``cls``.
        max_features: wider inputs (images, embeddings) are described by shape only.
        preview_chars: size cap of the ``"full"`` previews, which stay valid JSON.
    """

    unknown = sorted(set(options) - set(TraceOptions.__annotations__))
    if unknown:
        raise TypeError(f"trace_model() got unknown option(s): {', '.join(unknown)}")
    if func is None:
        ModelSpec(name=name or "model", **options)  # bad values fail here, where the decorator is written

    def decorate(f: F) -> F:
        return wrap(f, ModelSpec(name=name or str(getattr(f, "__name__", "model")), **options))

    if func is not None:
        return decorate(func)
    return decorate


def current_prediction_id() -> str | None:
    """The ``ml.prediction.id`` of the current call, or of the last one made in this context.

    Pass it to :func:`log_actual` when the true outcome is known.
    """
    return state.prediction_id.get()

"""``modeltrace.log_actual``: ground truth for an earlier prediction, as a feedback span."""

from __future__ import annotations

import re
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags

from .. import attributes as ml
from . import jsonenc, state
from .errors import internal_error
from .tables import to_numpy

_SPAN_REF = re.compile(r"[0-9a-f]{48}")


def _actual_json(actual: Any) -> str:
    arr = to_numpy(actual)
    if arr is not None and arr.dtype.kind in "biuf":
        values = arr.reshape(-1).astype(float).tolist()
        return "[" + ",".join(jsonenc.number(v) for v in values) + "]"
    if arr is not None and arr.ndim >= 1:
        return jsonenc.dumps([jsonenc.category(v) for v in arr.reshape(-1).tolist()])
    return jsonenc.dumps([jsonenc.scalar(actual)])


def log_actual(prediction_id: str, actual: Any, *, model: str | None = None, version: str | None = None) -> None:
    """Record the true outcome for the prediction ``prediction_id``.

    ``actual`` is a scalar for a one-row call, or one value per row (in the order of the
    call's input) for a batch. When the id came from modeltrace, the feedback span links
    to the prediction's span.
    """
    try:
        attrs: dict[str, Any] = {
            ml.PREDICTION_ID: str(prediction_id),
            ml.ACTUAL: _actual_json(actual),
            ml.OPERATION_NAME: ml.FEEDBACK_OPERATION,
        }
        if model is not None:
            attrs[ml.MODEL_NAME] = model
        if version is not None:
            attrs[ml.MODEL_VERSION] = str(version)
        links = []
        if isinstance(prediction_id, str) and _SPAN_REF.fullmatch(prediction_id):
            ctx = SpanContext(
                int(prediction_id[:32], 16), int(prediction_id[32:], 16), is_remote=True, trace_flags=TraceFlags(1)
            )
            links.append(Link(ctx))
        now = state.now_ns()
        span = state.tracer().start_span(
            f"feedback {model}" if model else "feedback",
            context=trace.set_span_in_context(trace.INVALID_SPAN),
            kind=SpanKind.INTERNAL,
            attributes=attrs,
            links=links,
            start_time=now,
        )
        span.end(end_time=now)
    except Exception:
        internal_error("log_actual")

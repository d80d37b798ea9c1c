"""What a decorator knows about its model, worked out once when it is applied."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypedDict

from .. import attributes as ml
from .capture import CAPTURE_MODES, OUTPUT_MODES, Redaction, make_redactor
from .profiler import LatencyWindow

_MISSING = object()


class TraceOptions(TypedDict, total=False):
    """The keyword options of ``trace_model`` besides ``name`` (their defaults live in ``ModelSpec``)."""

    version: str | None
    framework: str | None
    operation: str
    feature_names: Sequence[str] | None
    sample_rows: int
    sample_values: int | None
    capture: str
    capture_rate: float
    redact: Any
    profile_rate: float
    profile_after_slow: int
    labels: Sequence[Any] | None
    output: str
    input_arg: str | int | None
    max_features: int
    preview_chars: int


class ModelSpec:
    """Fixed attributes, capture policy and profiling state of one decorated model."""

    def __init__(
        self,
        *,
        name: str,
        version: str | None = None,
        framework: str | None = None,
        operation: str = "predict",
        feature_names: Sequence[str] | None = None,
        sample_rows: int = 32,
        sample_values: int | None = 128,
        capture: str = "sample",
        capture_rate: float = 1.0,
        redact: Any = None,
        profile_rate: float = 0.01,
        profile_after_slow: int = 3,
        labels: Sequence[Any] | None = None,
        output: str = "auto",
        input_arg: str | int | None = None,
        max_features: int = 256,
        preview_chars: int = 4096,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("trace_model needs a non-empty model name")
        if capture not in CAPTURE_MODES:
            raise ValueError(f"capture must be one of {CAPTURE_MODES}, not {capture!r}")
        if output not in OUTPUT_MODES:
            raise ValueError(f"output must be one of {OUTPUT_MODES}, not {output!r}")
        if not 0.0 <= float(capture_rate) <= 1.0:
            raise ValueError(f"capture_rate must be between 0 and 1, not {capture_rate!r}")
        if not 0.0 <= float(profile_rate) <= 1.0:
            raise ValueError(f"profile_rate must be between 0 and 1, not {profile_rate!r}")
        if int(sample_rows) < 0:
            raise ValueError("sample_rows must be >= 0")
        self._init = dict(
            name=name,
            version=version,
            framework=framework,
            operation=operation,
            feature_names=feature_names,
            sample_rows=sample_rows,
            sample_values=sample_values,
            capture=capture,
            capture_rate=capture_rate,
            redact=redact,
            profile_rate=profile_rate,
            profile_after_slow=profile_after_slow,
            labels=labels,
            output=output,
            input_arg=input_arg,
            max_features=max_features,
            preview_chars=preview_chars,
        )
        self.name = name
        self.version = None if version is None else str(version)
        self.operation = operation
        self.feature_names = None if feature_names is None else tuple(str(n) for n in feature_names)
        self.sample_rows = int(sample_rows)
        self.sample_values = None if sample_values is None else max(1, int(sample_values))
        self.capture = capture
        self.with_values = capture != "none"
        self.with_sample = capture in ("sample", "full") and self.sample_rows > 0
        self.always_stats = capture == "stats"
        self.with_preview = capture == "full"
        self.capture_rate = float(capture_rate)
        redactor = make_redactor(redact)
        self.redaction = Redaction(redactor) if redactor is not None else None
        self.profile_rate = float(profile_rate)
        self.profile_after_slow = int(profile_after_slow)
        self.labels = None if labels is None else list(labels)
        self.output = output
        self.max_features = int(max_features)
        self.preview_chars = int(preview_chars)
        self.window = LatencyWindow()
        self.span_name = f"{operation} {name}"
        attributes: dict[str, str] = {ml.MODEL_NAME: name, ml.OPERATION_NAME: operation}
        if self.version is not None:
            attributes[ml.MODEL_VERSION] = self.version
        if framework:
            attributes[ml.MODEL_FRAMEWORK] = str(framework)
        self.attributes = attributes
        self.input_arg = input_arg
        self.arg_index = -1
        self.arg_name: str | None = None

    def bind(self, func: Callable[..., Any]) -> ModelSpec:
        """Find which argument carries the model input: ``input_arg`` or the first non-self one."""
        try:
            params = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):
            params = []
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        chosen: inspect.Parameter | None = None
        if isinstance(self.input_arg, int):
            self.arg_index = self.input_arg
            return self
        if isinstance(self.input_arg, str):
            matches = [p for p in params if p.name == self.input_arg]
            if not matches:
                raise ValueError(f"input_arg {self.input_arg!r} is not a parameter of {func.__qualname__}")
            chosen = matches[0]
        else:
            candidates = [p for p in params if p.kind not in (p.VAR_KEYWORD,)]
            if candidates and candidates[0].name in ("self", "cls") and candidates[0] in positional:
                candidates = candidates[1:]
            chosen = candidates[0] if candidates else None
        if chosen is None:
            return self
        if chosen.kind == chosen.VAR_POSITIONAL or chosen in positional:
            self.arg_index = positional.index(chosen) if chosen in positional else len(positional)
        self.arg_name = chosen.name if chosen.kind != chosen.VAR_POSITIONAL else None
        return self

    def rows_to_sample(self, columns: int) -> int:
        """Rows to sample from a batch: ``sample_rows``, fewer for wide rows (``sample_values``)."""
        budget = self.sample_values
        if budget is None or columns <= 0:
            return self.sample_rows
        return max(1, min(self.sample_rows, budget // columns))

    def input_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        i = self.arg_index
        if 0 <= i < len(args):
            return args[i]
        name = self.arg_name
        if name is not None and name in kwargs:
            return kwargs[name]
        return _MISSING

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self._init, self.arg_index, self.arg_name))


def _rebuild(init: dict[str, Any], arg_index: int, arg_name: str | None) -> ModelSpec:
    spec = ModelSpec(**init)
    spec.arg_index, spec.arg_name = arg_index, arg_name
    return spec


MISSING = _MISSING

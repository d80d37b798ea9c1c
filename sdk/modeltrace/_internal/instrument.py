"""``modeltrace.instrument``: trace one estimator or torch module, leaving its class alone."""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from typing import Any, TypeVar

from .decorator import wrap
from .spec import ModelSpec

T = TypeVar("T")

SKLEARN_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform")
TORCH_METHODS = ("forward",)
_MARK = "__modeltrace_instrumented__"

# The model object whose traced method is running: estimators call their own methods
# (predict calls decision_function), and those inner calls are not separate predictions.
_active: contextvars.ContextVar[int] = contextvars.ContextVar("modeltrace_active_model", default=0)


def _is_torch_module(obj: Any) -> bool:
    return any(c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in type(obj).__mro__)


def _framework(obj: Any) -> str:
    """The library the model's class comes from (a user subclass reports its base's)."""
    known = {"sklearn": "sklearn", "torch": "pytorch", "xgboost": "xgboost", "lightgbm": "lightgbm"}
    for cls in type(obj).__mro__:
        root = cls.__module__.split(".")[0]
        if root in known:
            return known[root]
    return type(obj).__module__.split(".")[0]


class _Bound:
    """A traced method stored on one instance; pickles as "instrument this again"."""

    __slots__ = ("__dict__", "_call", "_method", "_obj", "_spec")

    def __init__(self, obj: Any, method: str, spec: ModelSpec) -> None:
        self._obj, self._method, self._spec = obj, method, spec
        bound = getattr(type(obj), method).__get__(obj, type(obj))
        self._call = wrap(bound, spec)
        self.__wrapped__ = bound
        self.__doc__ = getattr(bound, "__doc__", None)
        self.__name__ = method

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key = id(self._obj)
        if _active.get() == key:
            return self.__wrapped__(*args, **kwargs)
        token = _active.set(key)
        try:
            return self._call(*args, **kwargs)
        finally:
            _active.reset(token)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Bound, (self._obj, self._method, self._spec))

    def __repr__(self) -> str:
        return f"<modeltrace-traced {self._method} of {self._obj!r}>"


def instrument(
    model: T,
    *,
    name: str,
    version: str | None = None,
    methods: Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
    **options: Any,
) -> T:
    """Trace the prediction methods of one model object and return it.

    scikit-learn-style estimators get ``predict``, ``predict_proba``, ``predict_log_proba``,
    ``decision_function`` and ``transform`` traced (those they have); a torch
    ``nn.Module`` gets ``forward``, which ``module(x)`` calls. Only this object changes:
    the traced methods are set on the instance, so other instances of the class are not
    touched. Other keyword options are those of :func:`modeltrace.trace_model`.
    """
    if getattr(model, _MARK, False):
        return model
    is_torch = _is_torch_module(model)
    chosen = list(methods) if methods is not None else list(TORCH_METHODS if is_torch else SKLEARN_METHODS)
    names = feature_names
    if names is None:
        fitted = getattr(model, "feature_names_in_", None)
        if fitted is not None:
            names = [str(n) for n in fitted]
    labels = options.pop("labels", None)
    if labels is None and getattr(model, "classes_", None) is not None:
        labels = list(model.classes_)  # type: ignore[attr-defined]
    framework = options.pop("framework", None) or _framework(model)
    traced = []
    for method in chosen:
        if not callable(getattr(type(model), method, None)):
            continue
        try:
            getattr(model, method)
        except AttributeError:
            continue  # sklearn hides methods that do not apply (predict_proba on an SVC without probability)
        spec = ModelSpec(
            name=name,
            version=version,
            framework=framework,
            operation="predict" if is_torch and method == "forward" else method,
            feature_names=names,
            labels=labels,
            **options,
        )
        # object.__setattr__ bypasses nn.Module.__setattr__, which would treat it as a submodule slot.
        object.__setattr__(model, method, _Bound(model, method, spec))
        traced.append(method)
    if not traced:
        raise TypeError(f"{type(model).__qualname__} has none of the methods {chosen} to trace")
    object.__setattr__(model, _MARK, tuple(traced))
    return model


def uninstrument(model: T) -> T:
    """Undo :func:`instrument` on ``model``."""
    traced = getattr(model, _MARK, None)
    if not traced:
        return model
    for method in traced:
        model.__dict__.pop(method, None)
    model.__dict__.pop(_MARK, None)
    return model

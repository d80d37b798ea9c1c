"""API routes of the read side's catalog: models, per-minute series, drift tables and
distributions, hotspots and their version diff, call search and traces.

The web UI is built on these routes only, so everything it shows can be scripted. Routes
that take a time range accept ``start`` and ``end`` (epoch seconds, milliseconds or ISO 8601)
or ``window`` (seconds back from now, ``15m``, ``7d``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from ..query.catalog import TREE_SPANS, CallSearch
from .context import ApiError, Backend
from .params import (
    MAX_WINDOW_SECONDS,
    BadParameter,
    parse_choice,
    parse_int,
    parse_number,
    parse_time,
    parse_window,
)

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
MAX_POINTS = 1500  # a series answers at most this many steps per version
MAX_DURATION_MS = 1e9  # about 11.5 days: the bounds of a duration filter


def time_range(params: dict[str, str], default_window: int) -> tuple[int, int]:
    """[start, end) in epoch ms from ``start``/``end`` or ``window`` (ending now)."""
    now = int(time.time() * 1000)
    end = parse_time(params.get("end"), "end") or now
    start = parse_time(params.get("start"), "start")
    if start is None:
        start = end - parse_window(params.get("window"), default_window) * 1000
    if end <= start:
        raise BadParameter("start, end: end must be after start")
    if end - start > MAX_WINDOW_SECONDS * 1000:
        raise BadParameter("start, end: the range is longer than 400 days")
    return start, end


def step_for(start_ms: int, end_ms: int, requested: str | None, points: int = 300) -> int:
    """The series' step in whole minutes: about ``points`` steps over the range unless asked."""
    if requested:
        step = parse_window(requested, name="step")
        if step % 60:
            raise BadParameter(f"step: {requested!r} is not a whole number of minutes (the series are per minute)")
    else:
        step = max(1, -(-(end_ms - start_ms) // 60000 // points)) * 60
    if (end_ms - start_ms) / 1000 / step > MAX_POINTS:
        raise BadParameter(f"step: {step} s cuts the range into more than {MAX_POINTS} steps")
    return step


class _Request:
    def __init__(self, svc: Backend, params: dict[str, str]) -> None:
        self.svc, self.params = svc, params
        self.catalog = svc.catalog
        self.model = params.get("model", "")

    def require_model(self) -> str:
        if not self.model:
            raise ApiError(400, "model is required")
        self.catalog.require_model(self.model)
        return self.model

    def text(self, name: str, limit: int = 200) -> str:
        value = self.params.get(name, "")
        if len(value) > limit:
            raise BadParameter(f"{name}: longer than {limit} characters")
        return value


def _models(r: _Request) -> tuple[int, Any]:
    window = parse_window(r.params.get("window"), 30 * 86400)
    return 200, {"models": r.catalog.models(window)}


def _overview(r: _Request) -> tuple[int, Any]:
    start, end = time_range(r.params, 3600)
    points = parse_int(r.params.get("points"), "points", 30, 2, 200)
    return 200, {"start_ms": start, "end_ms": end, "models": r.catalog.overview(start, end, points, r.model)}


def _series(r: _Request) -> tuple[int, Any]:
    model = r.require_model()
    start, end = time_range(r.params, 3600)
    step = step_for(start, end, r.params.get("step"))
    operation = r.text("operation")
    return 200, {
        "model": model,
        "operation": operation,
        "start_ms": start,
        "end_ms": end,
        "step_seconds": step,
        "points": r.catalog.series(model, start, end, step, operation),
        "deploys": r.catalog.deploys(model),
        "operations": r.catalog.operations(model, start, end),
    }


def _latency(r: _Request) -> tuple[int, Any]:
    window = parse_window(r.params.get("window"))
    return 200, {"window_seconds": window, "latency": r.catalog.latency(window, r.model)}


def _hotspots(r: _Request) -> tuple[int, Any]:
    start, end = time_range(r.params, 86400)
    limit = parse_int(r.params.get("limit"), "limit", 10, 1, 1000)
    found = r.catalog.hotspots(start, end, r.model, limit, r.text("version"))
    return 200, {"window_seconds": (end - start) // 1000, "start_ms": start, "end_ms": end, "hotspots": found}


def _hotspot_diff(r: _Request) -> tuple[int, Any]:
    model = r.require_model()
    start, end = time_range(r.params, 7 * 86400)
    limit = parse_int(r.params.get("limit"), "limit", 20, 1, 1000)
    before, after = r.text("from"), r.text("to")
    if not before or not after:
        # the two newest versions: what changed at the last deploy
        versions = [d["version"] for d in r.catalog.deploys(model)]
        if len(versions) < 2:
            answer = {"model": model, "from": "", "to": "", "start_ms": start, "end_ms": end, "functions": []}
            return 200, {**answer, "note": f"{model!r} has one version: nothing to compare"}
        before, after = before or versions[-2], after or versions[-1]
    rows = r.catalog.hotspot_diff(model, before, after, start, end, limit)
    return 200, {"model": model, "from": before, "to": after, "start_ms": start, "end_ms": end, "functions": rows}


def _drift_features(r: _Request) -> tuple[int, Any]:
    model = r.require_model()
    start, end = time_range(r.params, 86400)
    return 200, {
        "model": model,
        "start_ms": start,
        "end_ms": end,
        "features": r.catalog.drift_latest(model, start, end),
    }


def _feature(r: _Request) -> tuple[str, str, str]:
    """The model, feature and side (input by default) a drift route is asked about."""
    model = r.require_model()
    feature = r.text("feature")
    if not feature:
        raise ApiError(400, "feature is required")
    return model, feature, parse_choice(r.params.get("side") or "input", "side", ("input", "output"))


def _drift_scores(r: _Request) -> tuple[int, Any]:
    model, feature, side = _feature(r)
    start, end = time_range(r.params, 86400)
    scores = r.catalog.drift_scores(model, feature, side, start, end)
    return 200, {"model": model, "feature": feature, "side": side, "scores": scores}


def _drift_distribution(r: _Request) -> tuple[int, Any]:
    model, feature, side = _feature(r)
    drift = r.svc.analyzer.drift
    window = parse_window(r.params.get("window"), int(drift.settings.window))
    reference = parse_choice(r.params.get("reference"), "reference", ("", "auto", "upload", "window")) or None
    try:
        answer = drift.distribution(
            model, r.text("version"), feature, side, parse_time(r.params.get("at")), window, reference
        )
    except LookupError as exc:
        raise ApiError(404, str(exc)) from exc
    return 200, answer


def _calls(r: _Request) -> tuple[int, Any]:
    start, end = time_range(r.params, 3600)
    attribute = r.text("attribute", 1000)
    key, sep, value = attribute.partition("=")
    if attribute and not (sep and key):
        raise BadParameter(f"attribute: {attribute[:60]!r} is not key=value")
    search = CallSearch(
        start_ms=start,
        end_ms=end,
        model=r.model,
        version=r.text("version"),
        operation=r.text("operation"),
        status=parse_choice(r.params.get("status"), "status", ("", "ok", "error")),
        min_ms=parse_number(r.params.get("min_ms"), "min_ms", 0, MAX_DURATION_MS),
        max_ms=parse_number(r.params.get("max_ms"), "max_ms", 0, MAX_DURATION_MS),
        attribute=(key.strip(), value.strip()),
        order=parse_choice(r.params.get("order") or "newest", "order", ("newest", "slowest")),
        limit=parse_int(r.params.get("limit"), "limit", 100, 1, 5000),
    )
    found = r.catalog.find_calls(search)
    if r.model and not found["total"]:
        r.catalog.require_model(r.model)
    return 200, {"start_ms": start, "end_ms": end, **found}


def _predictions(r: _Request) -> tuple[int, Any]:
    limit = parse_int(r.params.get("limit"), "limit", 50, 1, 10_000)
    return 200, {"predictions": r.catalog.predictions(r.model, limit)}


def _ui(r: _Request) -> tuple[int, Any]:
    """What the web UI needs of the configuration."""
    return 200, {"jaeger_ui_url": r.svc.config.api.jaeger_ui_url}


ROUTES: dict[str, Callable[[_Request], tuple[int, Any]]] = {
    "/api/ui": _ui,
    "/api/models": _models,
    "/api/overview": _overview,
    "/api/series": _series,
    "/api/latency": _latency,
    "/api/hotspots": _hotspots,
    "/api/hotspots/diff": _hotspot_diff,
    "/api/drift/features": _drift_features,
    "/api/drift/scores": _drift_scores,
    "/api/drift/distribution": _drift_distribution,
    "/api/calls": _calls,
    "/api/predictions": _predictions,
}


def route(svc: Backend, path: str, params: dict[str, str]) -> tuple[int, Any] | None:
    """The answer of one of these routes, or None for another route."""
    handler = ROUTES.get(path)
    if handler is not None:
        return handler(_Request(svc, params))
    if path.startswith("/api/traces/"):
        return _trace(svc, path[len("/api/traces/") :].lower(), params)
    return None


def _trace(svc: Backend, trace_id: str, params: dict[str, str]) -> tuple[int, Any]:
    if not _TRACE_ID.fullmatch(trace_id):
        raise ApiError(400, "a trace id is 32 hex characters")
    view = parse_choice(params.get("view"), "view", ("", "tree"))
    if view == "tree":
        tree = svc.catalog.trace_tree(trace_id)
        if tree is None:
            raise ApiError(404, f"trace {trace_id} not found")
        return 200, {"trace_id": trace_id, **tree, "truncated": len(tree["spans"]) >= TREE_SPANS}
    found = svc.catalog.trace(trace_id)
    if not found:
        raise ApiError(404, f"trace {trace_id} not found")
    return 200, {"trace_id": trace_id, "spans": found}

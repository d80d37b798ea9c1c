"""API routes of the analysis: findings, drift, anomalies, root causes, performance, references."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from ..analysis.runner import ANOMALY_KINDS
from ..query.catalog import Catalog
from .context import ApiError, Backend
from .params import (
    MAX_WINDOW_SECONDS,
    BadParameter,
    parse_choice,
    parse_flag,
    parse_int,
    parse_time,
    parse_window,
)
from .references import store_reference

__all__ = ["parse_time", "route", "store_reference"]

SIDES = ("input", "output")
MAX_BUCKETS = 10_000
_FINDING_ID = re.compile(r"[0-9a-f]{16}")


class _Request:
    """One request to an analysis route: the collector, the method, the query and the body."""

    def __init__(self, svc: Backend, method: str, params: dict[str, str], body: bytes) -> None:
        self.svc, self.method, self.params, self.body = svc, method, params, body
        self.catalog: Catalog = svc.catalog
        self.analyzer = svc.analyzer
        self.model = params.get("model", "")

    def known_model(self, found: bool, check_always: bool = False) -> None:
        if self.model and (check_always or not found):
            self.catalog.require_model(self.model)

    def require_model(self) -> str:
        if not self.model:
            raise ApiError(400, "model is required")
        return self.model


def route(svc: Backend, method: str, path: str, params: dict[str, str], body: bytes) -> tuple[int, Any]:
    request = _Request(svc, method, params, body)
    handler = ROUTES.get(path)
    if handler is not None:
        return handler(request)
    for prefix, with_id in ID_ROUTES.items():
        if path.startswith(prefix):
            return with_id(request, _finding_id(path[len(prefix) :]))
    raise ApiError(404, f"no route {path}")


def _findings(r: _Request) -> tuple[int, Any]:
    status = parse_choice(r.params.get("status"), "status", ("", "open", "resolved"))
    limit = parse_int(r.params.get("limit"), "limit", 100, 1, 10_000)
    since = r.params.get("window")
    since_ms = int(time.time() * 1000) - parse_window(since) * 1000 if since else None
    found = r.analyzer.findings.list(r.model, r.params.get("kind", ""), status, since_ms, limit)
    r.known_model(bool(found))
    return 200, {"findings": [f.as_dict() for f in found]}


def _finding(r: _Request, finding_id: str) -> tuple[int, Any]:
    finding = r.analyzer.findings.get(finding_id)
    if finding is None:
        raise ApiError(404, f"finding {finding_id!r} not found")
    return 200, finding.as_dict()


def _anomalies(r: _Request) -> tuple[int, Any]:
    at = parse_time(r.params.get("at"))
    live = parse_flag(r.params.get("live"), "live")
    status = parse_choice(r.params.get("status"), "status", ("", "open", "resolved"))
    if live:
        found = r.analyzer.anomalies(at, r.model)
        r.known_model(bool(found))
        return 200, {"anomalies": [f.as_dict() for f in found], "live": True}
    found = [f for kind in ANOMALY_KINDS for f in r.analyzer.findings.list(r.model, kind, status)]
    found.sort(key=lambda f: -f.opened_ms)
    r.known_model(bool(found))
    return 200, {"anomalies": [f.as_dict() for f in found]}


def _drift(r: _Request) -> tuple[int, Any]:
    model = r.require_model()
    at = parse_time(r.params.get("at")) or int(time.time() * 1000)
    window = parse_window(r.params.get("window"), int(r.analyzer.drift.settings.window))
    reference = parse_choice(r.params.get("reference"), "reference", ("", "auto", "upload", "window")) or None
    versions = [v for m, v in r.analyzer.active_versions(at, window, model)]
    if r.params.get("version"):
        versions = [v for v in versions if v == r.params["version"]]
    if not versions:
        r.known_model(False)
        raise ApiError(404, f"no sampled values for model {model!r} in the last {window} s")
    reports = []
    for version in versions:
        try:
            reports.append(r.analyzer.drift.analyze(model, version, end_ms=at, window=window, reference=reference))
        except LookupError as exc:
            raise ApiError(404, str(exc))
    return 200, {"model": model, "reports": reports}


def _rca_finding(r: _Request, finding_id: str) -> tuple[int, Any]:
    finding = r.analyzer.findings.get(finding_id)
    if finding is None:
        raise ApiError(404, f"finding {finding_id!r} not found")
    if finding.kind not in ("latency", "error_rate"):
        raise ApiError(
            400, f"finding {finding.id} is {finding.kind}; root causes are for latency and error_rate findings"
        )
    return 200, {"finding": finding.as_dict(), **r.analyzer.explain(finding)}


def _rca(r: _Request) -> tuple[int, Any]:
    if not r.model:
        raise ApiError(400, "a finding id, or model with start and end, is required")
    start, end = parse_time(r.params.get("start"), "start"), parse_time(r.params.get("end"), "end")
    if start is None or end is None or end <= start:
        raise ApiError(400, "start and end (epoch or ISO 8601, end after start) are required")
    if end - start > MAX_WINDOW_SECONDS * 1000:
        raise BadParameter("start, end: the range is longer than 400 days")
    kind = parse_choice(r.params.get("kind") or "latency", "kind", ("latency", "error_rate"))
    r.known_model(False, check_always=True)
    # without an operation: the model's busiest one in the range (predict_proba for a classifier
    # served through it), not a fixed "predict" that may have no call
    operation = r.params.get("operation") or r.catalog.main_operation(r.model, start, end) or "predict"
    version = r.params.get("version", "")
    return 200, r.analyzer.rca.analyze(r.model, operation, start, end, kind=kind, version=version)


def _performance(r: _Request) -> tuple[int, Any]:
    model = r.require_model()
    window = parse_window(r.params.get("window"), 86400)
    bucket = parse_window(r.params.get("bucket"), min(3600, window), name="bucket")
    if bucket > window or window / bucket > MAX_BUCKETS:
        raise BadParameter(f"bucket: {bucket} s does not cut the {window} s window into 1 to {MAX_BUCKETS} buckets")
    end_ms = parse_time(r.params.get("at"))
    r.known_model(False, check_always=True)
    return 200, r.analyzer.performance.analyze(
        model,
        window=window,
        bucket=bucket,
        end_ms=end_ms,
        prediction_field=r.params.get("prediction_field", ""),
        score_field=r.params.get("score_field", "score"),
    )


def _run(r: _Request) -> tuple[int, Any]:
    if r.method != "POST":
        raise ApiError(405, "POST to run the analysis")
    return 200, r.analyzer.run(parse_time(r.params.get("at")), r.model)


def _references(r: _Request) -> tuple[int, Any]:
    if r.method == "POST":
        return 201, store_reference(r.catalog, r.body)
    return 200, {"references": r.catalog.references(r.model)}


ROUTES: dict[str, Callable[[_Request], tuple[int, Any]]] = {
    "/api/findings": _findings,
    "/api/anomalies": _anomalies,
    "/api/drift": _drift,
    "/api/rca": _rca,
    "/api/performance": _performance,
    "/api/analysis/run": _run,
    "/api/references": _references,
}
# routes ending in a finding id
ID_ROUTES: dict[str, Callable[[_Request, str], tuple[int, Any]]] = {
    "/api/findings/": _finding,
    "/api/rca/": _rca_finding,
}


def _finding_id(text: str) -> str:
    if not _FINDING_ID.fullmatch(text):
        raise BadParameter(f"finding id: {text[:60]!r} is not a finding id (16 hex characters)")
    return text

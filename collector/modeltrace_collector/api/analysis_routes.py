"""API routes of the analysis: findings, drift, anomalies, root causes, performance, references."""

from __future__ import annotations

import re
import time
from typing import Any

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


def route(
    svc: Backend, max_reference_bytes: int, method: str, path: str, params: dict[str, str], body: bytes
) -> tuple[int, Any]:
    catalog = svc.catalog
    analyzer = svc.analyzer
    model = params.get("model", "")
    if path == "/api/findings":
        status = parse_choice(params.get("status"), "status", ("", "open", "resolved"))
        limit = parse_int(params.get("limit"), "limit", 100, 1, 10_000)
        since = params.get("window")
        since_ms = int(time.time() * 1000) - parse_window(since) * 1000 if since else None
        found = analyzer.findings.list(model, params.get("kind", ""), status, since_ms, limit)
        _known_model(catalog, model, bool(found))
        return 200, {"findings": [f.as_dict() for f in found]}
    if path.startswith("/api/findings/"):
        finding = analyzer.findings.get(_finding_id(path[len("/api/findings/") :]))
        if finding is None:
            raise ApiError(404, f"finding {path.rsplit('/', 1)[1]!r} not found")
        return 200, finding.as_dict()
    if path == "/api/anomalies":
        at = parse_time(params.get("at"))
        live = parse_flag(params.get("live"), "live")
        status = parse_choice(params.get("status"), "status", ("", "open", "resolved"))
        if live:
            found = analyzer.anomalies(at, model)
            _known_model(catalog, model, bool(found))
            return 200, {"anomalies": [f.as_dict() for f in found], "live": True}
        found = [f for kind in ("latency", "error_rate") for f in analyzer.findings.list(model, kind, status)]
        found.sort(key=lambda f: -f.opened_ms)
        _known_model(catalog, model, bool(found))
        return 200, {"anomalies": [f.as_dict() for f in found]}
    if path == "/api/drift":
        if not model:
            raise ApiError(400, "model is required")
        at = parse_time(params.get("at")) or int(time.time() * 1000)
        window = parse_window(params.get("window"), int(analyzer.drift.settings.window))
        reference = parse_choice(params.get("reference"), "reference", ("", "auto", "upload", "window")) or None
        versions = [v for m, v in analyzer.active_versions(at, window, model)]
        if params.get("version"):
            versions = [v for v in versions if v == params["version"]]
        if not versions:
            _known_model(catalog, model, False)
            raise ApiError(404, f"no sampled values for model {model!r} in the last {window} s")
        reports = []
        for version in versions:
            try:
                reports.append(analyzer.drift.analyze(model, version, end_ms=at, window=window, reference=reference))
            except LookupError as exc:
                raise ApiError(404, str(exc))
        return 200, {"model": model, "reports": reports}
    if path == "/api/rca" or path.startswith("/api/rca/"):
        if path.startswith("/api/rca/"):
            finding = analyzer.findings.get(_finding_id(path[len("/api/rca/") :]))
            if finding is None:
                raise ApiError(404, f"finding {path.rsplit('/', 1)[1]!r} not found")
            if finding.kind not in ("latency", "error_rate"):
                raise ApiError(
                    400, f"finding {finding.id} is {finding.kind}; root causes are for latency and error_rate findings"
                )
            return 200, {"finding": finding.as_dict(), **analyzer.explain(finding)}
        if not model:
            raise ApiError(400, "a finding id, or model with start and end, is required")
        start, end = parse_time(params.get("start"), "start"), parse_time(params.get("end"), "end")
        if start is None or end is None or end <= start:
            raise ApiError(400, "start and end (epoch or ISO 8601, end after start) are required")
        if end - start > MAX_WINDOW_SECONDS * 1000:
            raise BadParameter("start, end: the range is longer than 400 days")
        kind = parse_choice(params.get("kind") or "latency", "kind", ("latency", "error_rate"))
        _known_model(catalog, model, False, check_always=True)
        return 200, analyzer.rca.analyze(
            model, params.get("operation", "predict"), start, end, kind=kind, version=params.get("version", "")
        )
    if path == "/api/performance":
        if not model:
            raise ApiError(400, "model is required")
        window = parse_window(params.get("window"), 86400)
        bucket = parse_window(params.get("bucket"), min(3600, window), name="bucket")
        if bucket > window or window / bucket > MAX_BUCKETS:
            raise BadParameter(f"bucket: {bucket} s does not cut the {window} s window into 1 to {MAX_BUCKETS} buckets")
        end_ms = parse_time(params.get("at"))
        _known_model(catalog, model, False, check_always=True)
        return 200, analyzer.performance.analyze(
            model,
            window=window,
            bucket=bucket,
            end_ms=end_ms,
            prediction_field=params.get("prediction_field", ""),
            score_field=params.get("score_field", "score"),
        )
    if path == "/api/analysis/run":
        if method != "POST":
            raise ApiError(405, "POST to run the analysis")
        return 200, analyzer.run(parse_time(params.get("at")), model)
    if path == "/api/references":
        if method == "POST":
            return 201, store_reference(catalog, body)
        return 200, {"references": catalog.references(model)}
    raise ApiError(404, f"no route {path}")


def _finding_id(text: str) -> str:
    if not _FINDING_ID.fullmatch(text):
        raise BadParameter(f"finding id: {text[:60]!r} is not a finding id (16 hex characters)")
    return text


def _known_model(catalog: Catalog, model: str, found: bool, check_always: bool = False) -> None:
    if model and (check_always or not found):
        catalog.require_model(model)

"""API routes of the analysis: findings, drift, anomalies, root causes, performance, references."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
import uuid
from typing import TYPE_CHECKING, Any

from . import queries

if TYPE_CHECKING:
    from .server import ApiServer

SIDES = ("input", "output")


def parse_time(text: str | None, name: str = "at") -> int | None:
    """Epoch milliseconds from ``1790000000000`` (ms), ``1790000000`` (s) or ISO 8601 (UTC if no zone)."""
    from .server import ApiError

    if not text:
        return None
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(400, f"{name} {text!r} is neither epoch seconds/milliseconds nor an ISO 8601 time")
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.timezone.utc)
        return int(t.timestamp() * 1000)
    return int(value if value > 1e11 else value * 1000)


def route(api: ApiServer, method: str, path: str, params: dict[str, str], body: bytes) -> tuple[int, Any]:
    from .server import ApiError, parse_window

    svc = api.service
    analyzer = svc.analyzer
    model = params.get("model", "")
    if path == "/api/findings":
        status = params.get("status", "")
        if status not in ("", "open", "resolved"):
            raise ApiError(400, "status is open or resolved")
        limit = api._int(params.get("limit"), 100, 1, 10_000)
        since = params.get("window")
        since_ms = int(time.time() * 1000) - parse_window(since) * 1000 if since else None
        found = analyzer.findings.list(model, params.get("kind", ""), status, since_ms, limit)
        _known_model(api, model, bool(found))
        return 200, {"findings": [f.as_dict() for f in found]}
    if path.startswith("/api/findings/"):
        finding = analyzer.findings.get(path.rsplit("/", 1)[1])
        if finding is None:
            raise ApiError(404, f"finding {path.rsplit('/', 1)[1]!r} not found")
        return 200, finding.as_dict()
    if path == "/api/anomalies":
        at = parse_time(params.get("at"))
        if params.get("live") in ("1", "true"):
            found = analyzer.anomalies(at, model)
            _known_model(api, model, bool(found))
            return 200, {"anomalies": [f.as_dict() for f in found], "live": True}
        found = [
            f
            for kind in ("latency", "error_rate")
            for f in analyzer.findings.list(model, kind, params.get("status", ""))
        ]
        found.sort(key=lambda f: -f.opened_ms)
        _known_model(api, model, bool(found))
        return 200, {"anomalies": [f.as_dict() for f in found]}
    if path == "/api/drift":
        if not model:
            raise ApiError(400, "model is required")
        at = parse_time(params.get("at")) or int(time.time() * 1000)
        window = parse_window(params.get("window"), int(analyzer.drift.settings.window))
        reference = params.get("reference") or None
        if reference not in (None, "auto", "upload", "window"):
            raise ApiError(400, "reference is auto, upload or window")
        versions = [v for m, v in analyzer.active_versions(at, window, model)]
        if params.get("version"):
            versions = [v for v in versions if v == params["version"]]
        if not versions:
            _known_model(api, model, False)
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
            finding = analyzer.findings.get(path.rsplit("/", 1)[1])
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
        kind = params.get("kind", "latency")
        if kind not in ("latency", "error_rate"):
            raise ApiError(400, "kind is latency or error_rate")
        _known_model(api, model, False, check_always=True)
        return 200, analyzer.rca.analyze(
            model, params.get("operation", "predict"), start, end, kind=kind, version=params.get("version", "")
        )
    if path == "/api/performance":
        if not model:
            raise ApiError(400, "model is required")
        _known_model(api, model, False, check_always=True)
        window = parse_window(params.get("window"), 86400)
        bucket = parse_window(params.get("bucket"), min(3600, window))
        return 200, analyzer.performance.analyze(
            model,
            window=window,
            bucket=bucket,
            end_ms=parse_time(params.get("at")),
            prediction_field=params.get("prediction_field", ""),
            score_field=params.get("score_field", "score"),
        )
    if path == "/api/analysis/run":
        if method != "POST":
            raise ApiError(405, "POST to run the analysis")
        return 200, analyzer.run(parse_time(params.get("at")), model)
    if path == "/api/references":
        if method == "POST":
            return 201, store_reference(api, body)
        rows = svc.store.query(
            "SELECT ReferenceId AS reference_id, ModelName AS model, ModelVersion AS version, "
            "any(Source) AS source, max(CreatedAt) AS created, groupArray(Side || '.' || Feature) AS features, "
            "max(length(NumValue) + length(CatValue)) AS rows "
            f"FROM `{svc.store.database}`.ml_references FINAL "
            "WHERE ({model:String} = '' OR ModelName = {model:String}) "
            "GROUP BY reference_id, model, version ORDER BY created DESC LIMIT 100",
            {"model": model},
        )
        return 200, {"references": queries.rows(rows)}
    raise ApiError(404, f"no route {path}")


def _known_model(api: ApiServer, model: str, found: bool, check_always: bool = False) -> None:
    if model and (check_always or not found):
        api._require_model({"model": model}, [])


def store_reference(api: ApiServer, body: bytes) -> dict[str, Any]:
    """``{"model", "version"?, "features": {name: [values]}, "outputs"?: {...}, "source"?}``."""
    from .server import ApiError

    try:
        request = json.loads(body or b"{}")
    except ValueError:
        raise ApiError(400, "body must be JSON")
    if not isinstance(request, dict) or not isinstance(request.get("model"), str) or not request["model"]:
        raise ApiError(400, 'body must be {"model": ..., "features": {name: [values, ...]}}')
    version = request.get("version") or ""
    if not isinstance(version, str):
        raise ApiError(400, "version must be a string")
    columns: dict[str, list[Any]] = {
        k: []
        for k in (
            "CreatedAt",
            "ReferenceId",
            "ModelName",
            "ModelVersion",
            "Side",
            "Feature",
            "Source",
            "NumValue",
            "CatValue",
        )
    }
    reference_id = uuid.uuid4().hex[:16]
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    count = 0
    for side, key in (("input", "features"), ("output", "outputs")):
        table = request.get(key) or {}
        if not isinstance(table, dict):
            raise ApiError(400, f"{key} must be an object of feature name to a list of values")
        for name, values in table.items():
            if not isinstance(values, list) or not values:
                raise ApiError(400, f"{key}.{name} must be a non-empty list of values")
            num, cat = _split(values)
            if num is None and cat is None:
                raise ApiError(400, f"{key}.{name} mixes numbers and strings or holds nested values")
            columns["CreatedAt"].append(now)
            columns["ReferenceId"].append(reference_id)
            columns["ModelName"].append(request["model"])
            columns["ModelVersion"].append(version)
            columns["Side"].append(side)
            columns["Feature"].append(str(name))
            columns["Source"].append(str(request.get("source") or "api"))
            columns["NumValue"].append(num or [])
            columns["CatValue"].append(cat or [])
            count += len(values)
    if not columns["Feature"]:
        raise ApiError(400, "no features in the reference")
    api.service.store.insert("ml_references", list(columns.values()), tuple(columns), token=f"reference-{reference_id}")
    return {
        "reference_id": reference_id,
        "model": request["model"],
        "version": version,
        "features": len(columns["Feature"]),
        "values": count,
    }


def _split(values: list[Any]) -> tuple[list[float] | None, list[str | None] | None]:
    """Numbers (None and NaN as NaN) or strings (None as null); anything else is refused."""
    if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
        return [math.nan if v is None else float(v) for v in values], None
    if all(v is None or isinstance(v, (str, bool)) for v in values):
        return None, [None if v is None else str(v).lower() if isinstance(v, bool) else v for v in values]
    return None, None

"""API routes of the dead-letter store: list, export, replay and drop spans ClickHouse refused."""

from __future__ import annotations

import itertools
from typing import Any

from ..jsonbody import load_json
from ..pipeline.deadletter import otlp_json
from .context import ApiError, Backend
from .params import parse_int

PREFIX = "/api/deadletters"
EXPORT_PAGE_BYTES = 16 << 20


def _selection(body: bytes) -> tuple[list[str] | None, str | None, bool]:
    """``{"ids": [...]}``, ``{"cause": "..."}`` or ``{"all": true}`` from a POST body."""
    request = load_json(body or b"{}", "body")
    if not isinstance(request, dict):
        raise ApiError(400, "body must be a JSON object")
    ids = request.get("ids")
    cause = request.get("cause")
    everything = request.get("all") is True
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
        raise ApiError(400, "ids must be a list of dead-letter ids")
    if cause is not None and not isinstance(cause, str):
        raise ApiError(400, "cause must be a string")
    if ids is None and cause is None and not everything:
        raise ApiError(400, 'say which: {"ids": [...]}, {"cause": "..."} or {"all": true}')
    return ids, cause, everything


def route(svc: Backend, method: str, path: str, params: dict[str, str], body: bytes) -> tuple[int, Any]:
    letters = svc.dead_letters
    if letters is None:
        raise ApiError(503, "the collector has not started its pipeline")
    if path == PREFIX:
        limit = parse_int(params.get("limit"), "limit", 100, 1, 10_000)
        cause = params.get("cause") or None
        counts = letters.counts()
        latest = itertools.islice(letters.iter_entries(cause=cause, newest_first=True), limit)
        return 200, {
            "total": counts.get(cause, 0) if cause else sum(counts.values()),
            "by_cause": counts,
            "dropped": letters.dropped,
            "bytes": letters.bytes(),
            "entries": [e.summary() for e in latest],
        }
    if path == PREFIX + "/export":
        # A page at a time, oldest first: entries can be large (a span of tens of megabytes).
        offset = parse_int(params.get("offset"), "offset", 0, 0, 10**9)
        limit = parse_int(params.get("limit"), "limit", 1000, 1, 10_000)
        page: list[dict[str, Any]] = []
        size = 0
        next_offset: int | None = None
        for i, e in enumerate(itertools.islice(letters.iter_entries(cause=params.get("cause") or None), offset, None)):
            if len(page) >= limit or (page and size >= EXPORT_PAGE_BYTES):
                next_offset = offset + i
                break
            item = e.summary()
            item["request"] = otlp_json(e.request) if e.request is not None else None
            item["row"] = e.row
            size += len(e.request or b"")
            page.append(item)
        return 200, {"entries": page, "next_offset": next_offset}
    if path == PREFIX + "/replay":
        if method != "POST":
            raise ApiError(405, "POST to replay dead letters")
        ids, cause, _ = _selection(body)
        return 200, svc.replay_dead_letters(ids=ids, cause=cause)
    if path == PREFIX + "/drop":
        if method != "POST":
            raise ApiError(405, "POST to drop dead letters")
        ids, cause, _ = _selection(body)
        chosen = [e.id for e in letters.entries(cause=cause, ids=ids)]
        return 200, {"dropped": letters.remove(chosen)}
    raise ApiError(404, f"no route {path}")

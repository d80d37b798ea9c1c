"""The read side on port 8080: health, JSON query API, read-only SQL and /metrics."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from ..httpserver import BackgroundHttpServer
from ..jaeger import http_api as jaeger_http
from ..query import sql_sandbox
from . import analysis_routes, deadletter_routes, queries

log = logging.getLogger("modeltrace.api")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)?$")
_FINDING_ID = re.compile(r"[0-9a-f]{16}")
MAX_REFERENCE_BYTES = 256 << 20


class ApiError(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def _json_default(v: Any) -> Any:
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, (set, tuple)):
        return list(v)
    return str(v)


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def parse_window(text: str | None, default: int = 3600) -> int:
    """``300``, ``90s``, ``15m``, ``2h``, ``7d`` as seconds."""
    if not text:
        return default
    m = _DURATION.match(text.strip())
    if not m:
        raise ApiError(400, f"window {text!r} is not a duration like 15m, 2h or 7d")
    value = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}[m.group(2)]
    if not 0 < value <= 400 * 86400:
        raise ApiError(400, f"window {text!r} is out of range")
    return int(value)


class ApiServer:
    def __init__(self, listen: str, service: Any) -> None:
        self.service = service
        self._http = BackgroundHttpServer(listen, self.handle, "api")
        self.port = self._http.port

    def start(self) -> None:
        self._http.start()

    def shutdown(self) -> None:
        self._http.shutdown()

    # -- routing ------------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(h.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = b""
        if method == "POST":
            length = int(h.headers.get("Content-Length") or 0)
            limit = MAX_REFERENCE_BYTES if url.path == "/api/references" else 1 << 20
            if length > limit:
                return self._send_json(h, 413, {"error": "request body too large"})
            body = h.rfile.read(length)
        try:
            if url.path == "/metrics":
                return self._send(h, 200, "text/plain; version=0.0.4", self.service.metrics.render().encode())
            if url.path.startswith(jaeger_http.PREFIX + "/"):
                status, payload = jaeger_http.route(
                    self.service.trace_reader, url.path[len(jaeger_http.PREFIX) :], url.query
                )
                return self._send_json(h, status, payload)
            status, payload = self.route(method, url.path, params, body)
        except ApiError as exc:
            status, payload = exc.status, {"error": str(exc)}
            if exc.retry_after is not None:
                return self._send_json(h, status, payload, {"Retry-After": str(exc.retry_after)})
        except Exception as exc:
            log.exception("API request %s failed", url.path)
            status, payload = 500, {"error": f"internal error: {type(exc).__name__}"}
        self._send_json(h, status, payload)

    def route(self, method: str, path: str, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        svc = self.service
        if path == "/health":
            return 200, {"status": "ok"}
        if path == "/ready":
            ready, detail = svc.readiness()
            return (200 if ready else 503), detail
        if path == "/api/models":
            window = parse_window(params.get("window"), 30 * 86400)
            return 200, {"models": self._query(queries.MODELS, {"window": window})}
        if path == "/api/latency":
            window = parse_window(params.get("window"))
            found = self._query(queries.LATENCY, {"window": window, "model": params.get("model", "")})
            self._require_model(params, found)
            return 200, {"window_seconds": window, "latency": found}
        if path == "/api/hotspots":
            window = parse_window(params.get("window"), 86400)
            limit = self._int(params.get("limit"), 10, 1, 1000)
            found = self._query(queries.HOTSPOTS, {"window": window, "model": params.get("model", ""), "limit": limit})
            self._require_model(params, found)
            return 200, {"window_seconds": window, "hotspots": found}
        if path == "/api/predictions":
            limit = self._int(params.get("limit"), 50, 1, 10_000)
            found = self._query(queries.PREDICTIONS, {"model": params.get("model", ""), "limit": limit})
            self._require_model(params, found)
            return 200, {"predictions": found}
        if path.startswith("/api/traces/"):
            trace_id = path.rsplit("/", 1)[1].lower()
            if not _TRACE_ID.fullmatch(trace_id):
                raise ApiError(400, "a trace id is 32 hex characters")
            spans = self._query(queries.TRACE, {"trace_id": trace_id})
            if not spans:
                raise ApiError(404, f"trace {trace_id} not found")
            return 200, {"trace_id": trace_id, "spans": spans}
        if path == "/api/sql":
            return 200, self._sql(method, params, body)
        if path == deadletter_routes.PREFIX or path.startswith(deadletter_routes.PREFIX + "/"):
            return deadletter_routes.route(self, method, path, params, body)
        if path.startswith(
            ("/api/findings", "/api/drift", "/api/anomalies", "/api/rca", "/api/performance")
        ) or path in (
            "/api/analysis/run",
            "/api/references",
        ):
            return analysis_routes.route(self, method, path, params, body)
        raise ApiError(404, f"no route {path}")

    # -- helpers ------------------------------------------------------------------------

    def _query(self, sql: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        result = self.service.store.query(queries.render(sql, self.service.store.database), parameters)
        return queries.rows(result)

    def _require_model(self, params: dict[str, str], found: list[dict[str, Any]]) -> None:
        model = params.get("model")
        if model and not found:
            known = {r["model"] for r in self._query(queries.MODELS, {"window": 400 * 86400})}
            if model not in known:
                raise ApiError(404, f"unknown model {model!r}; known: {', '.join(sorted(known)) or 'none yet'}")

    @staticmethod
    def _int(text: str | None, default: int, low: int, high: int) -> int:
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise ApiError(400, f"{text!r} is not an integer")
        if not low <= value <= high:
            raise ApiError(400, f"{value} is outside {low}..{high}")
        return value

    def _sql(self, method: str, params: dict[str, str], body: bytes) -> dict[str, Any]:
        if method == "POST":
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                raise ApiError(400, 'body must be JSON: {"query": ..., "parameters": {...}}')
            if not isinstance(request, dict):
                raise ApiError(400, "body must be a JSON object")
            sql = request.get("query")
            parameters = request.get("parameters") or {}
        else:
            sql = params.get("query")
            parameters = {k[len("param_") :]: v for k, v in params.items() if k.startswith("param_")}
        try:
            return self.service.sql.answer(self.service.store, sql, parameters)  # type: ignore[no-any-return]
        except sql_sandbox.Refused as exc:
            raise ApiError(exc.status, str(exc), retry_after=1 if exc.status in (429, 503) else None) from exc

    # -- responses ----------------------------------------------------------------------

    def _send_json(
        self, h: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(_clean(payload), default=_json_default).encode()
        self._send(h, status, "application/json", data, headers)

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler, status: int, ctype: str, data: bytes, headers: dict[str, str] | None = None
    ) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

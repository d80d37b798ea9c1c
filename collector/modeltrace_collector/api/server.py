"""The read side on port 8080: health, JSON query API, read-only SQL and /metrics."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Receive, Scope, Send

from ..auth import AuthError
from ..jaeger import http_api as jaeger_http
from ..jsonbody import BadJson, load_json
from ..net.body import BodyError, Budget, Hold, header, read_body, send_bytes
from ..net.listener import Tls
from ..net.server import AsgiServer
from ..query import sql_sandbox
from ..query.catalog import UnknownModel
from . import analysis_routes, catalog_routes, deadletter_routes, openapi, static
from .context import ApiError, Backend
from .params import BadParameter

log = logging.getLogger("modeltrace.api")
MAX_BODY_BYTES = 1 << 20  # every body but a reference upload (api.max_reference_bytes)
MAX_PARAMETERS = 100
# a POST to these must announce its body
BODY_ROUTES = ("/api/sql", "/api/references", "/api/deadletters/replay", "/api/deadletters/drop")
# answered without a token: the probes of orchestrators and load balancers, and the API's description
OPEN_ROUTES = ("/health", "/ready", "/openapi.json")
# a POST to these changes what the collector holds or does: the admin scope
ADMIN_ROUTES = ("/api/references", "/api/analysis/run", "/api/deadletters/replay", "/api/deadletters/drop")


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


def _dumps(payload: Any) -> bytes:
    try:  # most answers hold no NaN or infinity: the C encoder alone, without a walk over them
        return json.dumps(payload, default=_json_default, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        return json.dumps(_clean(payload), default=_json_default, separators=(",", ":")).encode()


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def _cross_site(scope: Scope) -> str | None:
    """Why a POST is refused as a possible cross-site request, or None.

    A web page may make a browser send a form or text POST to any address, this API on
    127.0.0.1 included, without asking (no CORS preflight): on a collector without keys that
    would let any page change what it holds. Such requests cannot carry a JSON content type,
    and a browser names the page's origin on every POST: a POST must be JSON, and an origin
    other than the API's own is refused."""
    ctype = (header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
    if ctype != "application/json":
        return f"a POST here takes Content-Type: application/json (got {ctype or 'none'!r})"
    origin = header(scope, b"origin")
    if origin is not None:
        host = header(scope, b"host") or ""
        if origin.split("://", 1)[-1].rstrip("/").lower() != host.lower():
            return f"a request from the web page of another origin ({origin[:100]}) is refused"
    return None


class ApiServer:
    def __init__(self, listen: str, service: Backend) -> None:
        self.service = service
        cfg = service.config.api
        self.max_reference_bytes = cfg.max_reference_bytes
        self.read_timeout = cfg.read_timeout_seconds
        # bodies held at once: four reference uploads of the largest size, or 64 MiB
        self._static = static.StaticFiles() if cfg.ui else None
        self._budget = Budget(max(4 * self.max_reference_bytes, 64 << 20))
        # answers of 1 KiB and more are gzipped for clients that take it
        app = GZipMiddleware(self.app, minimum_size=1024)
        self._http = AsgiServer(listen, app, "api", self.read_timeout, tls=Tls.of(cfg))
        self.port = self._http.port

    name = "API server"

    def start(self) -> None:
        self._http.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        self._http.shutdown(timeout)

    def health(self) -> list[str]:
        return self._http.health()

    # -- routing ------------------------------------------------------------------------

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        path = scope["raw_path"].decode("latin-1")  # as sent: routes unquote their own parts
        takes_body = header(scope, b"content-length") not in (None, "0") or header(scope, b"transfer-encoding")
        ui_path = path == "/" or path.startswith((static.PREFIX, "/index.html"))
        if method == "GET" and not takes_body and ui_path and self._static is not None:
            # the UI's files: no data in them, so no token (its API calls need the read scope)
            answer = self._static.answer(path, header(scope, b"if-none-match"))
            if answer is not None:
                await send_bytes(send, *answer)
                return
        if method == "POST":
            refused = _cross_site(scope)
            if refused:
                return await send_bytes(send, 403, "application/json", _dumps({"error": refused}), close=True)
        auth = getattr(self.service, "auth", None)
        if auth is not None and path not in OPEN_ROUTES:
            try:
                auth.check(
                    header(scope, b"authorization"), "admin" if method == "POST" and path in ADMIN_ROUTES else "read"
                )
            except AuthError as exc:
                error = _dumps({"error": str(exc)})
                return await send_bytes(send, exc.status, "application/json", error, exc.headers, close=True)
        if (method != "POST" or path in OPEN_ROUTES) and takes_body:
            # a route that takes no body does not wait for one (a client announcing a body it
            # never sends would hold the connection busy for the read timeout): 400, closing
            error = _dumps({"error": f"{method} {path} takes no request body"})
            return await send_bytes(send, 400, "application/json", error, close=True)
        hold = Hold(self._budget)
        try:
            try:
                body = await self._read_body(scope, receive, method, path, hold)
            except BodyError as exc:  # the rest of the request is not read: the connection closes
                retry = {"Retry-After": "1"} if exc.status == 503 else None
                error = _dumps({"error": str(exc)})
                return await send_bytes(send, exc.status, "application/json", error, retry, close=True)
            status, ctype, data, headers = await run_in_threadpool(
                self.respond, method, path, scope["query_string"].decode("latin-1"), body
            )
        finally:
            hold.release()
        await send_bytes(send, status, ctype, data, headers)

    def respond(self, method: str, path: str, query: str, body: bytes) -> tuple[int, str, bytes, dict[str, str] | None]:
        """(status, content type, body, extra headers) of the answer to one request."""
        headers = None
        try:
            if method not in ("GET", "POST"):
                raise ApiError(405, f"{method} is not supported here: use GET, or POST where a route takes a body")
            try:
                params = {k: v[-1] for k, v in parse_qs(query, max_num_fields=MAX_PARAMETERS).items()}
            except ValueError:
                raise ApiError(400, f"more than {MAX_PARAMETERS} query parameters")
            if path == "/openapi.json":
                return 200, "application/json", openapi.document(), None
            if path == "/metrics":
                return 200, "text/plain; version=0.0.4", self.service.metrics.render().encode(), None
            if path.startswith(jaeger_http.PREFIX + "/"):
                status, payload = jaeger_http.route(self.service.trace_reader, path[len(jaeger_http.PREFIX) :], query)
            else:
                status, payload = self.route(method, path, params, body)
        except ApiError as exc:
            status, payload = exc.status, {"error": str(exc)}
            if exc.retry_after is not None:
                headers = {"Retry-After": str(exc.retry_after)}
        except (BadParameter, BadJson) as exc:
            status, payload = 400, {"error": str(exc)}
        except UnknownModel as exc:
            status, payload = 404, {"error": str(exc)}
        except Exception as exc:
            log.exception("API request %s failed", path)
            status, payload = 500, {"error": f"internal error: {type(exc).__name__}"}
        # an SQL answer's rows are JSON already, as ClickHouse wrote them
        data = payload.to_bytes() if isinstance(payload, sql_sandbox.Answer) else _dumps(payload)
        return status, "application/json", data, headers

    async def _read_body(self, scope: Scope, receive: Receive, method: str, path: str, hold: Hold) -> bytes:
        """The whole body (a GET's is read and dropped, so the connection stays in step)."""
        if path != "/api/references":
            required = method == "POST" and path in BODY_ROUTES
            return await read_body(scope, receive, MAX_BODY_BYTES, self.read_timeout, required, hold)
        try:
            return await read_body(scope, receive, self.max_reference_bytes, self.read_timeout, method == "POST", hold)
        except BodyError as exc:
            if exc.status == 413:
                exc.args = (
                    f"{exc} (api.max_reference_bytes): upload the reference per feature, one request per feature "
                    "with the reference_id of the first answer, or upload a random sample of its rows",
                )
            raise

    def route(self, method: str, path: str, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        svc = self.service
        if path == "/health":
            return 200, {"status": "ok"}
        if path == "/ready":
            ready, detail = svc.readiness()
            return (200 if ready else 503), detail
        answer = catalog_routes.route(svc, path, params)
        if answer is not None:
            return answer
        if path == "/api/sql":
            return 200, self._sql(method, params, body)
        if path == deadletter_routes.PREFIX or path.startswith(deadletter_routes.PREFIX + "/"):
            return deadletter_routes.route(svc, method, path, params, body)
        if path.startswith(
            ("/api/findings", "/api/drift", "/api/anomalies", "/api/rca", "/api/performance")
        ) or path in (
            "/api/analysis/run",
            "/api/references",
        ):
            return analysis_routes.route(svc, method, path, params, body)
        raise ApiError(404, f"no route {path}")

    # -- helpers ------------------------------------------------------------------------

    def _sql(self, method: str, params: dict[str, str], body: bytes) -> sql_sandbox.Answer:
        if method == "POST":
            # load_json refuses what the JSON parser cannot take well (NaN, deep nesting): 400
            request = load_json(body or b"{}", "body")
            if not isinstance(request, dict):
                raise ApiError(400, 'body must be a JSON object: {"query": ..., "parameters": {...}}')
            sql = request.get("query")
            parameters = request.get("parameters") or {}
        else:
            sql = params.get("query")
            parameters = {k[len("param_") :]: v for k, v in params.items() if k.startswith("param_")}
        try:
            return self.service.sql.answer(self.service.store, sql, parameters)
        except sql_sandbox.Refused as exc:
            raise ApiError(exc.status, str(exc), retry_after=1 if exc.status in (429, 503) else None) from exc

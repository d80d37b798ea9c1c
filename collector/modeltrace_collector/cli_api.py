"""The CLI's side of the collector API: requests with the user's token and TLS settings
(``MODELTRACE_TOKEN``, ``MODELTRACE_CA_FILE``, ...), answers as JSON or a plain table."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse
import urllib.request
from typing import Any

from modeltrace._internal.reference import ApiCallError, call_api

DEFAULT_API = "http://127.0.0.1:8080"
# times as the API writes them (ISO 8601, in UTC, with or without an offset)
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]00:00)?")


def _utc(text: str) -> str:
    """An API time as ``2026-12-01 16:21:05 UTC``."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def print_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    if not rows:
        print("(no rows)")
        return
    columns = columns or list(rows[0])

    def cell(column: str, v: Any, row: dict[str, Any]) -> str:
        if isinstance(v, float):
            # a p-value of 1.7e-40 is not 0.000
            return f"{v:.3g}" if v and abs(v) < 0.001 else f"{v:.3f}"
        if isinstance(v, (dict, list)):
            return json.dumps(v)[:60]
        if column == "file" and v == "~":
            return "(built-in)"  # cProfile's file for functions written in C
        if column == "line" and v == 0 and row.get("file") == "~":
            return ""
        if column == "file" and isinstance(v, str) and v.count("/") > 2:
            return "…/" + "/".join(v.split("/")[-3:])  # enough of the path to find it, short enough to read
        if isinstance(v, str) and _ISO_TIME.fullmatch(v):
            return _utc(v)
        return str(v)

    table = [[cell(c, r.get(c), r) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _url(base: str, path: str, params: dict[str, Any]) -> str:
    if not base.startswith(("http://", "https://")):
        raise SystemExit(f"modeltrace: the API address must start with http:// or https://, got {base!r}")
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{base.rstrip('/')}{path}" + (f"?{query}" if query else "")


def api_get(base: str, path: str, params: dict[str, Any]) -> Any:
    return _call(urllib.request.Request(_url(base, path, params)))  # noqa: S310 -- _url checks the scheme


def api_post(base: str, path: str, params: dict[str, Any], body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(_url(base, path, params), data=data, headers=headers, method="POST")  # noqa: S310
    return _call(request)


def _call(request: urllib.request.Request) -> Any:
    try:
        return call_api(request, timeout=60)
    except ApiCallError as exc:
        raise SystemExit(f"modeltrace: {exc}") from None

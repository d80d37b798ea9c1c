"""``modeltrace.set_reference``: upload a baseline (usually the training data) for drift.

Unlike spans, a reference is sent once and synchronously to the collector's API, so that the
caller knows it arrived: it raises on failure instead of swallowing errors.
"""

from __future__ import annotations

import json
import math
import os
import urllib.error
import urllib.request
from typing import Any

from .tables import to_table

DEFAULT_API = "http://127.0.0.1:8080"


def _columns(data: Any, names: Any = None) -> dict[str, list[Any]]:
    table = to_table(data, names)
    if table is None or not table.has_values or table.sparse is not None:
        raise TypeError(
            f"cannot read features from {type(data).__name__}; pass a DataFrame, an array or a dict of columns"
        )
    out: dict[str, list[Any]] = {}
    if table.num is not None:
        for j, name in enumerate(table.num_names):
            out[name] = [None if math.isnan(v) else v for v in table.num[:, j].astype(float).tolist()]
    for name, values in table.cats:
        out[name] = [None if v is None else str(v) for v in values]
    return out


def set_reference(
    model: str,
    data: Any,
    *,
    version: str | None = None,
    outputs: Any = None,
    feature_names: Any = None,
    api_url: str | None = None,
    timeout: float = 60.0,
) -> str:
    """Store ``data`` (a DataFrame, a 2-D array or a dict of columns) as the drift reference of
    ``model`` (and ``version``; all versions when omitted). ``outputs`` optionally gives the
    model's outputs on that data (a dict of columns, or an array taken as ``prediction``), for
    prediction drift. Returns the reference id; raises ``RuntimeError`` when the collector
    refuses it or cannot be reached."""
    body: dict[str, Any] = {
        "model": model,
        "version": version or "",
        "features": _columns(data, feature_names),
        "source": "python",
    }
    if outputs is not None:
        body["outputs"] = _columns(outputs if isinstance(outputs, dict) else {"prediction": outputs})
    base = (api_url or os.environ.get("MODELTRACE_API_URL") or DEFAULT_API).rstrip("/")
    request = urllib.request.Request(
        f"{base}/api/references",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return str(json.loads(response.read())["reference_id"])
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            message = exc.reason
        raise RuntimeError(f"the collector refused the reference: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise RuntimeError(f"cannot reach the collector API at {base}: {exc}") from None

"""``modeltrace.set_reference``: upload a baseline (usually the training data) for drift.

Unlike spans, a reference is sent once and synchronously to the collector's API, so that the
caller knows it arrived: it raises on failure instead of swallowing errors.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import ssl
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
    sides = {"features": _columns(data, feature_names)}
    if outputs is not None:
        sides["outputs"] = _columns(outputs if isinstance(outputs, dict) else {"prediction": outputs})
    base = (api_url or os.environ.get("MODELTRACE_API_URL") or DEFAULT_API).rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"the collector API address must start with http:// or https://, got {base!r}")
    fields = {"model": model, "version": version or "", "source": "python"}
    return upload_reference(base, fields, sides, timeout)


# A reference larger than this goes as several requests, a few features each, under one
# reference id: each stays well under the collector's api.max_reference_bytes (32 MiB).
MAX_REQUEST_BYTES = 8 << 20


def upload_reference(
    base: str,
    fields: dict[str, str],
    sides: dict[str, dict[str, list[Any]]],
    timeout: float = 60.0,
    max_request_bytes: int = MAX_REQUEST_BYTES,
) -> str:
    """POST ``fields`` (model, version, source) with ``sides`` ("features" and "outputs": name
    to values) to ``base``/api/references in requests of at most about ``max_request_bytes``;
    returns the reference id."""
    encoded = [
        (key, name, json.dumps(values).encode()) for key, table in sides.items() for name, values in table.items()
    ]
    groups: list[list[tuple[str, str, bytes]]] = [[]]
    size = 0
    for item in encoded:
        if groups[-1] and size + len(item[2]) > max_request_bytes:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += len(item[2])
    reference_id = ""
    for n, group in enumerate(groups):
        head = dict(fields, reference_id=reference_id) if reference_id else dict(fields)
        try:
            reference_id = _post(base, _body(head, group), timeout)
        except RuntimeError as exc:
            if n:
                raise RuntimeError(f"{exc} (after {n} of {len(groups)} parts: reference {reference_id} is incomplete)")
            raise
    return reference_id


def _body(fields: dict[str, str], group: list[tuple[str, str, bytes]]) -> bytes:
    tables: dict[str, list[bytes]] = {}
    for key, name, values in group:
        tables.setdefault(key, []).append(json.dumps(name).encode() + b": " + values)
    parts = [json.dumps(fields).encode()[:-1]]
    parts += [b", " + json.dumps(key).encode() + b": {" + b", ".join(items) + b"}" for key, items in tables.items()]
    return b"".join(parts) + b"}"


def client_tls() -> ssl.SSLContext | None:
    """The CA and client certificate of an https:// API, as the CLI takes them: MODELTRACE_CA_FILE,
    MODELTRACE_CLIENT_CERT_FILE, MODELTRACE_CLIENT_KEY_FILE."""
    ca, cert, key = (os.environ.get(f"MODELTRACE_{n}") for n in ("CA_FILE", "CLIENT_CERT_FILE", "CLIENT_KEY_FILE"))
    if not (ca or cert):
        return None
    context = ssl.create_default_context(cafile=ca or None)
    if cert:
        context.load_cert_chain(cert, key or None)
    return context


class ApiCallError(Exception):
    """A call to the collector API that failed; ``refused``: the API answered with an error
    (the message is its own), rather than not answering at all."""

    def __init__(self, message: str, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


def call_api(request: urllib.request.Request, timeout: float) -> Any:
    """The JSON answer of one request to the collector API, sent with the user's token
    (``MODELTRACE_TOKEN``) and TLS settings (``client_tls``); ``ApiCallError`` otherwise. The
    caller has checked that the URL is http(s)."""
    token = os.environ.get("MODELTRACE_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=client_tls()) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            message = exc.reason
        raise ApiCallError(str(message), refused=True) from None
    except urllib.error.URLError as exc:
        raise ApiCallError(f"cannot reach the collector API at {request.full_url}: {exc.reason}", False) from None
    except (http.client.HTTPException, OSError) as exc:
        # the connection closed before an answer: a TLS listener refusing a plaintext client or
        # one without the client certificate it requires
        raise ApiCallError(
            f"the collector API at {request.full_url} closed the connection without answering "
            f"({exc or type(exc).__name__}): check http:// or https:// in its address, and MODELTRACE_CLIENT_CERT_FILE "
            "when it asks for a client certificate",
            refused=False,
        ) from None


def _post(base: str, body: bytes, timeout: float) -> str:
    # an admin-scoped token, when the collector asks for one; set_reference checked that base is http(s)
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(f"{base}/api/references", data=body, headers=headers, method="POST")  # noqa: S310
    try:
        return str(call_api(request, timeout)["reference_id"])
    except ApiCallError as exc:
        raise RuntimeError(f"the collector refused the reference: {exc}" if exc.refused else str(exc)) from None

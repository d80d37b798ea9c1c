"""Reference uploads (``POST /api/references``): a baseline of feature values for drift.

A body is parsed a feature at a time and each feature's values are kept compact (a float64
array, or category strings shared between repeats) as soon as they are parsed; the rows go to
``ml_references`` in inserts of a bounded number of values. The peak memory of an upload is
then the body, its text and about 8 bytes per value, not a tree of Python objects for the
whole document.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import numpy as np

from ..jsonbody import load_object
from ..query.catalog import Catalog
from .context import ApiError
from .params import BadParameter

MAX_FEATURE_NAME = 256
INSERT_VALUES = 1 << 20  # values per insert: bounds what the client library builds at once
_REFERENCE_ID = re.compile(r"[0-9a-f]{16}")
_NUMERIC = {int, float, type(None)}
_CATEGORICAL = {str, bool, type(None)}

# One feature, compact: float64 values (NaN for null) or category strings, and its size.
Values = tuple["np.ndarray[Any, np.dtype[np.float64]] | None", "list[str | None] | None", int]


def store_reference(catalog: Catalog, body: bytes) -> dict[str, Any]:
    """``{"model", "version"?, "features": {name: [values]}, "outputs"?: {...}, "source"?,
    "reference_id"?}``; with ``reference_id`` (from an earlier answer) the features are added
    to that reference, so a large one can be uploaded a feature at a time."""
    try:
        text = body.decode("utf-8-sig") if body else "{}"
    except UnicodeDecodeError:
        raise ApiError(400, "body is not UTF-8") from None
    del body  # the caller still holds the bytes; this frame no longer needs them
    request = load_object(text, ("features", "outputs"), _compact)
    del text
    if not isinstance(request.get("model"), str) or not request["model"]:
        raise ApiError(400, 'body must be {"model": ..., "features": {name: [values, ...]}}')
    model = request["model"]
    version = _string(request, "version")
    source = _string(request, "source") or "api"
    token = reference_id = uuid.uuid4().hex[:16]
    if request.get("reference_id") is not None:
        reference_id = request["reference_id"]
        if not isinstance(reference_id, str) or not _REFERENCE_ID.fullmatch(reference_id):
            raise ApiError(400, "reference_id is the 16 hex characters an earlier upload answered with")
        version = _existing_version(catalog, model, reference_id, version if "version" in request else None)
    rows: list[tuple[str, str, Values]] = []
    for side, key in (("input", "features"), ("output", "outputs")):
        table = request.get(key)
        if table is None:
            continue
        if not isinstance(table, dict):
            raise ApiError(400, f"{key} must be an object of feature name to a list of values")
        rows += [(side, name, values) for name, values in table.items()]
    if not rows:
        raise ApiError(400, "no features in the reference")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    fixed = (now, reference_id, model, version)
    # A reference larger than one insert is stored by several: should one fail, the client
    # gets the error and a retry stores a new, whole reference (the newest one is used).
    for n, batch in enumerate(_batches(rows)):
        columns: list[list[Any]] = [[value] * len(batch) for value in fixed]
        columns += [[side for side, _, _ in batch], [name for _, name, _ in batch], [source] * len(batch)]
        columns.append([[] if num is None else num.tolist() for _, _, (num, _, _) in batch])
        columns.append([cat or [] for _, _, (_, cat, _) in batch])
        catalog.add_reference_rows(columns, token=f"reference-{token}-{n}")
    return {
        "reference_id": reference_id,
        "model": model,
        "version": version,
        "features": len(rows),
        "values": sum(size for _, _, (_, _, size) in rows),
    }


def _batches(rows: list[tuple[str, str, Values]]) -> list[list[tuple[str, str, Values]]]:
    """Consecutive rows holding at most INSERT_VALUES values together (or one larger row)."""
    out: list[list[tuple[str, str, Values]]] = [[]]
    size = 0
    for row in rows:
        if out[-1] and size + row[2][2] > INSERT_VALUES:
            out.append([])
            size = 0
        out[-1].append(row)
        size += row[2][2]
    return out


def _compact(key: str, name: str, values: Any) -> Values:
    """One feature's values, checked and made compact as soon as they are parsed."""
    what = f"{key}.{name}"
    if not name or len(name) > MAX_FEATURE_NAME:
        raise ApiError(400, f"{key}: a feature name is 1 to {MAX_FEATURE_NAME} characters, got {name[:60]!r}")
    if not isinstance(values, list) or not values:
        raise ApiError(400, f"{what} must be a non-empty list of values")
    kinds = set(map(type, values))
    if kinds <= _NUMERIC:
        try:
            num = np.array(values, dtype=np.float64)  # null becomes NaN
        except OverflowError:
            num = np.array([np.inf])
        if np.isinf(num).any():  # JSON has no Infinity: this is a number too large for a float64
            raise ApiError(400, f"{what} holds a number too large for a 64-bit float")
        return num, None, len(num)
    if kinds <= _CATEGORICAL:
        seen: dict[str, str] = {}  # repeated categories share one string
        cat = [
            None if v is None else seen.setdefault(v, v) if type(v) is str else ("true" if v else "false")
            for v in values
        ]
        return None, cat, len(cat)
    raise ApiError(400, f"{what} mixes numbers and strings or holds nested values")


def _string(request: dict[str, Any], key: str) -> str:
    value = request.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadParameter(f"{key} must be a string")
    return value


def _existing_version(catalog: Catalog, model: str, reference_id: str, version: str | None) -> str:
    """The version of an uploaded reference of ``model`` (which ``version``, when given, must match)."""
    stored = catalog.reference_version(reference_id, model)
    if stored is None:
        raise ApiError(404, f"reference {reference_id} of model {model!r} not found")
    if version is not None and version != stored:
        raise ApiError(400, f"reference {reference_id} is of version {stored!r}, not {version!r}")
    return stored

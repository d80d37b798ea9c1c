"""JSON text for span attributes, built for the per-call path.

Floats are written with 12 significant digits (``%.12g``): fixed-precision formatting is
about three times cheaper than Python's shortest round-trip ``repr`` and keeps more
precision than monitoring needs. Non-finite numbers become ``null`` so the text is
always valid JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

FLOAT_FMT = "%.12g"

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode

# Format templates for numeric samples, by column names and row count. The names tuple
# is usually the same object on every call, so the last one is checked by identity first.
_templates: dict[tuple[tuple[str, ...], int], str] = {}
_last: tuple[tuple[str, ...], int, str] = ((), -1, "")


def dumps(obj: Any) -> str:
    """Compact JSON for values already made JSON-safe."""
    return _dumps(obj)


def key(name: str) -> str:
    return _dumps(name)


def number(value: float) -> str:
    if math.isfinite(value):
        return FLOAT_FMT % value
    return "null"


def number_list(values: Iterable[float]) -> str:
    return "[" + ",".join([FLOAT_FMT % v if math.isfinite(v) else "null" for v in values]) + "]"


def scalar(value: Any) -> Any:
    """A JSON-safe Python value for one cell: numbers stay numbers, the rest become strings."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return text(value)


def category(value: Any) -> str | None:
    """Categorical cells are strings; missing values (None, NaN) are null."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.floating) and np.isnan(value):
        return None
    return text(value)


def text(value: Any) -> str:
    """``str(value)``, or the type's name when the object's own ``__str__`` fails."""
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__qualname__}>"


def numeric_columns(names: Sequence[str], matrix: np.ndarray) -> str:
    """``"name":[v,...]`` pairs (no braces) for the columns of a 2-D float array."""
    rows = matrix.shape[0]
    if rows == 0:
        return ",".join(key(n) + ":[]" for n in names)
    values = matrix.ravel(order="F").tolist()
    total = sum(values)
    if total - total == 0.0:  # every value is finite (NaN and inf both poison the sum)
        global _last
        last = _last
        if last[0] is names and last[1] == rows:
            return last[2] % tuple(values)
        names = tuple(names)
        template = _templates.get((names, rows))
        if template is None:
            cell = ",".join([FLOAT_FMT] * rows)
            template = ",".join(key(n).replace("%", "%%") + ":[" + cell + "]" for n in names)
            if len(_templates) > 512:
                _templates.clear()
            _templates[(names, rows)] = template
        _last = (names, rows, template)
        return template % tuple(values)
    return ",".join(key(n) + ":" + number_list(values[i * rows : (i + 1) * rows]) for i, n in enumerate(names))


def numeric_list(values: list[float]) -> str:
    """A JSON array of floats, fast when all are finite."""
    total = sum(values)
    if total - total == 0.0:
        return "[" + ",".join([FLOAT_FMT % v for v in values]) + "]"
    return number_list(values)


def category_columns(names: Sequence[str], columns: Sequence[Sequence[Any]]) -> str:
    return ",".join(key(n) + ":" + _dumps([category(v) for v in col]) for n, col in zip(names, columns))


def bounded_array(items: Iterator[str], limit: int) -> tuple[str, bool]:
    """A JSON array of already-encoded items, cut before ``limit`` characters.

    Returns the text and whether items were left out. The result is always valid JSON.
    """
    parts: list[str] = []
    size = 2
    for item in items:
        size += len(item) + (1 if parts else 0)
        if size > limit:
            return "[" + ",".join(parts) + "]", True
        parts.append(item)
    return "[" + ",".join(parts) + "]", False


def bounded_string(text: str, limit: int) -> tuple[str, bool]:
    """``text`` as a JSON string of at most ``limit`` characters."""
    encoded = _dumps(text)
    if len(encoded) <= limit:
        return encoded, False
    cut = max(0, limit - 2)
    while cut > 0:
        encoded = _dumps(text[:cut])
        if len(encoded) <= limit:
            return encoded, True
        cut = cut * limit // len(encoded) - 1
    return '""', True

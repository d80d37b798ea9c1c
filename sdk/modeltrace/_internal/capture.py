"""Turn a call's inputs and outputs into ``ml.*`` span attributes (ARCHITECTURE §3)."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from . import jsonenc
from .tables import Table, to_numpy, to_table

rng = random.Random()  # noqa: S311 -- row sampling, not a secret
"""Row sampling; ``modeltrace.testing`` seeds it for reproducible spans."""

CAPTURE_MODES = ("sample", "stats", "full", "none")
OUTPUT_MODES = ("auto", "prediction", "scores", "shape", "none")
TOP_VALUES = 5

Redactor = Callable[[str], bool]


def make_redactor(redact: Any) -> Redactor | None:
    """Compile ``redact`` (names, regexes, a predicate, or a mix) into one predicate."""
    if redact is None:
        return None
    if callable(redact) and not isinstance(redact, re.Pattern):
        return redact  # type: ignore[no-any-return]
    if isinstance(redact, (str, re.Pattern)):
        redact = [redact]
    names: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    predicates: list[Redactor] = []
    for item in redact:
        if isinstance(item, re.Pattern):
            patterns.append(item)
        elif isinstance(item, str):
            names.add(item)
        elif callable(item):
            predicates.append(item)
        else:
            raise TypeError(f"redact entries must be feature names, compiled regexes or callables, not {item!r}")

    def redacted(name: str) -> bool:
        return name in names or any(p.search(name) for p in patterns) or any(f(name) for f in predicates)

    return redacted


class Redaction:
    """Caches which columns a redactor removes, per column-name tuple."""

    __slots__ = ("_cache", "_redactor")

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._cache: dict[tuple[str, ...], tuple[list[int], tuple[str, ...], list[str]]] = {}

    def split(self, names: tuple[str, ...]) -> tuple[list[int], tuple[str, ...], list[str]]:
        """(indices kept, names kept, names removed); the redactor runs once per name tuple."""
        hit = self._cache.get(names)
        if hit is None:
            idx = [i for i, n in enumerate(names) if not self._redactor(n)]
            kept = tuple(names[i] for i in idx)
            hit = (idx, kept, [n for n in names if n not in kept])
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[names] = hit
        return hit

    def apply(self, table: Table) -> tuple[Table, list[str]]:
        if not table.names:
            return table, []
        idx, kept, removed = self.split(table.names)
        if not removed:
            return table, removed
        out = Table(table.rows, table.columns, kept)
        if table.num is not None:
            num_idx, num_kept, _ = self.split(table.num_names)
            if num_idx:
                out.num, out.num_names = table.num[:, num_idx], num_kept
        out.cats = [(n, c) for n, c in table.cats if n not in removed]
        if table.sparse is not None:
            out.sparse = table.sparse[:, idx]
        return out, removed


def sample_index(rows: int, k: int) -> list[int] | None:
    """Sorted indices of ``k`` uniformly sampled rows, or None when every row fits."""
    if rows <= k:
        return None
    return sorted(rng.sample(range(rows), k))


def input_sample(table: Table, idx: list[int] | None) -> str:
    parts: list[str] = []
    if table.num is not None:
        sub = table.num if idx is None else table.num[idx]
        parts.append(jsonenc.numeric_columns(table.num_names, sub))
    if table.sparse is not None:
        sub_sparse = table.sparse if idx is None else table.sparse[idx]
        parts.append(jsonenc.numeric_columns(table.names, np.asarray(sub_sparse.toarray(), dtype=np.float64)))
    if table.cats:
        cols = [c if idx is None else [c[i] for i in idx] for _, c in table.cats]
        parts.append(jsonenc.category_columns([n for n, _ in table.cats], cols))
    return "{" + ",".join(p for p in parts if p) + "}"


def input_stats(table: Table) -> str:
    parts: list[str] = []
    if table.num is not None and table.rows:
        parts.append(_numeric_stats(table.num_names, table.num))
    if table.sparse is not None and table.rows:
        parts.append(_sparse_stats(table.names, table.sparse))
    for name, col in table.cats:
        parts.append(jsonenc.key(name) + ":" + _category_stats(col))
    return "{" + ",".join(p for p in parts if p) + "}"


_STAT_FMT = '"min":' + jsonenc.FLOAT_FMT + ',"max":' + jsonenc.FLOAT_FMT + ',"mean":' + jsonenc.FLOAT_FMT + "}"
_stat_templates: dict[tuple[tuple[str, ...], int], str] = {}


def _numeric_stats(names: tuple[str, ...], x: np.ndarray) -> str:
    # Overflow and 0/0 are expected with extreme inputs; they become null, not warnings.
    with np.errstate(all="ignore"):
        return _numeric_stats_json(names, x)


def _one_row_stats(names: tuple[str, ...], row: list[float]) -> str:
    """Statistics of a single row, without numpy's per-call overhead."""
    parts = []
    for name, v in zip(names, row):
        if v != v:
            parts.append(jsonenc.key(name) + ':{"count":0,"nulls":1,"min":null,"max":null,"mean":null}')
        else:
            text = jsonenc.number(v)
            parts.append(f'{jsonenc.key(name)}:{{"count":1,"nulls":0,"min":{text},"max":{text},"mean":{text}}}')
    return ",".join(parts)


def _numeric_stats_json(names: tuple[str, ...], x: np.ndarray) -> str:
    rows = x.shape[0]
    if rows == 1:
        return _one_row_stats(names, x[0].tolist())
    # Reducing along contiguous rows of the transpose is about twice as fast as axis=0.
    xt = np.ascontiguousarray(x.T)
    total = np.add.reduce(xt, axis=1)
    if np.isfinite(total).all():
        # No NaN or inf anywhere: one sum gives the mean, and nothing is null.
        lo = np.minimum.reduce(xt, axis=1)
        hi = np.maximum.reduce(xt, axis=1)
        mean = total / rows
        values = np.empty(3 * len(names))
        values[0::3], values[1::3], values[2::3] = lo, hi, mean
        key = (names, rows)
        template = _stat_templates.get(key)
        if template is None:
            head = f'{{"count":{rows},"nulls":0,'
            template = ",".join(jsonenc.key(n).replace("%", "%%") + ":" + head + _STAT_FMT for n in names)
            if len(_stat_templates) > 256:
                _stat_templates.clear()
            _stat_templates[key] = template
        return template % tuple(values.tolist())
    nan = np.isnan(xt)
    nulls = np.add.reduce(nan, axis=1)
    count = rows - nulls
    lo = np.fmin.reduce(xt, axis=1)
    hi = np.fmax.reduce(xt, axis=1)
    mean = np.add.reduce(np.where(nan, 0.0, xt), axis=1) / count
    return ",".join(
        jsonenc.key(n)
        + f':{{"count":{int(c)},"nulls":{int(k)},"min":{jsonenc.number(a)},'
        + f'"max":{jsonenc.number(b)},"mean":{jsonenc.number(m)}}}'
        for n, c, k, a, b, m in zip(names, count.tolist(), nulls.tolist(), lo.tolist(), hi.tolist(), mean.tolist())
    )


def _sparse_stats(names: tuple[str, ...], x: Any) -> str:
    lo = np.asarray(x.min(axis=0).toarray(), dtype=np.float64).ravel()
    hi = np.asarray(x.max(axis=0).toarray(), dtype=np.float64).ravel()
    mean = np.asarray(x.mean(axis=0), dtype=np.float64).ravel()
    rows = x.shape[0]
    return ",".join(
        jsonenc.key(n)
        + f':{{"count":{rows},"nulls":0,"min":{jsonenc.number(a)},'
        + f'"max":{jsonenc.number(b)},"mean":{jsonenc.number(m)}}}'
        for n, a, b, m in zip(names, lo.tolist(), hi.tolist(), mean.tolist())
    )


def _category_stats(col: Sequence[Any]) -> str:
    values = [jsonenc.category(v) for v in col]
    counts = Counter(v for v in values if v is not None)
    nulls = len(values) - sum(counts.values())
    top = [[v, c] for v, c in counts.most_common(TOP_VALUES)]
    return jsonenc.dumps({"count": len(values) - nulls, "nulls": nulls, "distinct": len(counts), "top": top})


def _rows(table: Table) -> Iterator[str]:
    """Each row of a table as a JSON object, for previews."""
    num = table.num.tolist() if table.num is not None else None
    for r in range(table.rows):
        cells: list[str] = []
        if num is not None:
            cells.extend(jsonenc.key(n) + ":" + jsonenc.number(v) for n, v in zip(table.num_names, num[r]))
        if table.sparse is not None:
            dense = table.sparse[r].toarray().ravel().tolist()
            cells.extend(jsonenc.key(n) + ":" + jsonenc.number(v) for n, v in zip(table.names, dense))
        cells.extend(jsonenc.key(n) + ":" + jsonenc.dumps(jsonenc.category(c[r])) for n, c in table.cats)
        yield "{" + ",".join(cells) + "}"


def preview(value: Any, table: Table | None, limit: int) -> tuple[str, bool]:
    """A human-readable JSON preview of ``value`` of at most ``limit`` characters."""
    if table is not None and table.has_values:
        return jsonenc.bounded_array(_rows(table), limit)
    if isinstance(value, str):
        return jsonenc.bounded_string(value, limit)
    arr = to_numpy(value)
    if arr is not None and arr.dtype.kind in "biuf" and arr.ndim >= 1:
        return jsonenc.bounded_array(_array_items(arr), limit)
    return jsonenc.bounded_string(_safe_repr(value), limit)


def _array_items(arr: np.ndarray) -> Iterator[str]:
    for item in arr:
        if np.ndim(item) == 0:
            yield jsonenc.number(float(item))
        else:
            yield jsonenc.dumps(_nested(np.asarray(item, dtype=np.float64).tolist()))


def _nested(v: Any) -> Any:
    if isinstance(v, list):
        return [_nested(i) for i in v]
    return jsonenc.scalar(v)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # a user object whose __repr__ fails must not break the call
        return f"<{type(value).__qualname__}>"


class OutputCapture:
    """The attributes describing a call's result."""

    __slots__ = ("columns", "rows", "sample")

    def __init__(self, rows: int | None, columns: int | None, sample: str | None) -> None:
        self.rows, self.columns, self.sample = rows, columns, sample


def capture_output(
    value: Any,
    mode: str,
    operation: str,
    labels: Sequence[Any] | None,
    idx: list[int] | None,
    in_rows: int | None,
    sample_rows: int,
    with_values: bool,
) -> OutputCapture:
    if isinstance(value, dict) or (isinstance(value, (list, tuple)) and value and isinstance(value[0], Mapping)):
        # a mapping of columns, or records (a JSON API's list of {"class": .., "confidence": ..}):
        # one output field per key, not the repr of each record
        return _dict_output(value, idx, in_rows, sample_rows, with_values)
    arr = to_numpy(value)
    if arr is None:
        try:
            rows = len(value)
        except Exception:
            rows = None
        return OutputCapture(rows, None, None)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    rows = int(arr.shape[0])
    columns = int(np.prod(arr.shape[1:])) if arr.ndim > 1 else None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr, columns = arr[:, 0], None
    if not with_values or mode in ("shape", "none"):
        return OutputCapture(rows, columns, None)
    pick = _align(idx, in_rows, rows, sample_rows)
    if arr.ndim == 1 and mode != "scores":
        sub = arr if pick is None else arr[pick]
        return OutputCapture(rows, columns, "{" + _values_json("prediction", sub) + "}")
    if (
        arr.ndim == 2
        and arr.dtype.kind in "biuf"
        and (mode == "scores" or "proba" in operation or "decision" in operation)
    ):
        sub = arr if pick is None else arr[pick]
        top = sub.argmax(axis=1)
        score = sub.max(axis=1).astype(np.float64)
        if labels is not None and len(labels) == arr.shape[1]:
            label_values: np.ndarray = np.asarray(labels)[top]
        else:
            label_values = top
        return OutputCapture(
            rows, columns, "{" + _values_json("label", label_values) + "," + _values_json("score", score) + "}"
        )
    if arr.ndim == 1 and mode == "scores":
        sub = arr if pick is None else arr[pick]
        return OutputCapture(rows, columns, "{" + _values_json("score", sub) + "}")
    return OutputCapture(rows, columns, None)


def _align(idx: list[int] | None, in_rows: int | None, rows: int, sample_rows: int) -> list[int] | None:
    """Sample the same rows as the input when the output is row-aligned with it."""
    if in_rows == rows:
        return idx
    return sample_index(rows, sample_rows)


def _values_json(name: str, values: np.ndarray) -> str:
    kind = values.dtype.kind
    if kind in "iub":
        return '"' + name + '":' + jsonenc.dumps(values.astype(np.int64, copy=False).tolist())
    if kind == "f":
        return '"' + name + '":' + jsonenc.numeric_list(values.tolist())
    return jsonenc.category_columns((name,), [values.tolist()])


def _dict_output(
    value: dict[Any, Any] | list[Any] | tuple[Any, ...],
    idx: list[int] | None,
    in_rows: int | None,
    sample_rows: int,
    with_values: bool,
) -> OutputCapture:
    table = to_table(value, None)
    if table is None:
        return OutputCapture(None, None, None)
    if not with_values:
        return OutputCapture(table.rows, None, None)
    return OutputCapture(table.rows, None, input_sample(table, _align(idx, in_rows, table.rows, sample_rows)))

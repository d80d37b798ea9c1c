"""Normalise model inputs into one tabular shape the capture code understands.

Every supported input type (numpy, pandas, scipy sparse, torch, lists of rows, lists of
dicts, dicts of columns, scalars) maps to a :class:`Table`: numeric columns as one 2-D
float64 array (so statistics are vectorised) and other columns as Python lists.
Handlers are looked up by ``type(x)`` in one table; pandas, scipy and torch are never
imported here, they are recognised by module name when first seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_NUMERIC_KINDS = "biuf"
# Values that numpy would turn into floats only with a warning, or not at all.
_NOT_FLOAT = (str, bytes, complex, np.complexfloating)


@dataclass(slots=True)
class Table:
    rows: int
    columns: int
    names: tuple[str, ...] = ()
    num: np.ndarray | None = None
    num_names: tuple[str, ...] = ()
    cats: Sequence[tuple[str, Sequence[Any]]] = ()
    sparse: Any = None
    shape: tuple[int, ...] | None = None
    """Set for inputs too wide or deep to describe per feature (images, tensors)."""

    @property
    def has_values(self) -> bool:
        return self.num is not None or bool(self.cats) or self.sparse is not None


Handler = Callable[[Any, "Sequence[str] | None"], "Table | None"]

_default_names: dict[int, tuple[str, ...]] = {}


def default_names(n: int) -> tuple[str, ...]:
    names = _default_names.get(n)
    if names is None:
        names = tuple(f"f{i}" for i in range(n))
        if n <= 4096:
            _default_names[n] = names
    return names


def _names(given: Sequence[str] | None, n: int) -> tuple[str, ...]:
    if given is not None and len(given) == n:
        return tuple(given)
    return default_names(n)


def _split_columns(names: tuple[str, ...], columns: list[Any], rows: int) -> Table:
    """Build a table from per-column value sequences, detecting numeric columns."""
    num_cols: list[np.ndarray] = []
    num_names: list[str] = []
    cats: list[tuple[str, Sequence[Any]]] = []
    for name, col in zip(names, columns):
        arr = _as_float(col)
        if arr is not None:
            num_cols.append(arr)
            num_names.append(name)
        else:
            cats.append((name, col if isinstance(col, list) else list(col)))
    num = np.column_stack(num_cols) if num_cols else None
    return Table(rows, len(names), names, num, tuple(num_names), cats)


def _as_float(col: Any) -> np.ndarray | None:
    if isinstance(col, np.ndarray):
        if col.dtype.kind in _NUMERIC_KINDS:
            return col.astype(np.float64, copy=False)
        if col.dtype.kind != "O":
            return None
    if not all(_float_ok(v) for v in col):
        return None
    try:
        arr = np.asarray(col, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    return arr if arr.ndim == 1 else None


def _float_ok(v: Any) -> bool:
    """True for values numpy turns into a float silently (None becomes NaN)."""
    if isinstance(v, np.ndarray):
        return v.dtype.kind in _NUMERIC_KINDS
    return v is None or (
        isinstance(v, (int, float, np.integer, np.floating, np.bool_)) and not isinstance(v, _NOT_FLOAT)
    )


def _numeric_rows(rows: Sequence[Any]) -> bool:
    return all(
        (isinstance(r, np.ndarray) and r.dtype.kind in _NUMERIC_KINDS)
        or (isinstance(r, (list, tuple)) and all(_float_ok(v) for v in r))
        for r in rows
    )


def from_ndarray(x: np.ndarray, names: Sequence[str] | None) -> Table | None:
    ndim = x.ndim
    kind = x.dtype.kind
    if x.dtype.names:
        fields = list(x.dtype.names)
        flat = x.reshape(-1)
        return _split_columns(tuple(fields), [flat[f] for f in fields], flat.shape[0])
    if ndim == 0:
        return from_scalar(x.item(), names)
    if ndim == 1:
        n = x.shape[0]
        as_row = kind in _NUMERIC_KINDS
        if names is not None:
            if len(names) == n and n != 1:
                as_row = True
            elif len(names) == 1:
                as_row = False
        if as_row:
            return from_ndarray(x.reshape(1, n), names)
        col_names = _names(names, 1)
        return _split_columns(col_names, [x], n)
    if ndim == 2:
        rows, cols = x.shape
        col_names = _names(names, cols)
        if kind in _NUMERIC_KINDS:
            num = x.astype(np.float64, copy=False)
            return Table(rows, cols, col_names, num, col_names)
        return _split_columns(col_names, [x[:, i] for i in range(cols)], rows)
    rows = x.shape[0]
    return Table(rows, int(np.prod(x.shape[1:])), shape=tuple(x.shape))


def from_scalar(x: Any, names: Sequence[str] | None) -> Table:
    col_names = _names(names, 1)
    if isinstance(x, (bool, int, float, np.number)) and not isinstance(x, _NOT_FLOAT):
        return Table(1, 1, col_names, np.array([[float(x)]]), col_names)
    return Table(1, 1, col_names, cats=[(col_names[0], [x])])


def from_list(x: list[Any] | tuple[Any, ...], names: Sequence[str] | None) -> Table | None:
    n = len(x)
    if n == 0:
        return Table(0, 0)
    first = x[0]
    if isinstance(first, Mapping):
        return _from_records(x)
    if _is_row(first):
        arr = None
        if _numeric_rows(x):
            try:
                arr = np.asarray(x, dtype=np.float64)
            except (TypeError, ValueError, OverflowError):
                arr = None
        if arr is not None and arr.ndim == 2:
            return from_ndarray(arr, names)
        rows = [list(r) if _is_row(r) else [r] for r in x]
        width = max(len(r) for r in rows)
        columns = [[r[i] if i < len(r) else None for r in rows] for i in range(width)]
        return _split_columns(_names(names, width), columns, n)
    if not all(_float_ok(v) for v in x) or (names is not None and len(names) == 1 and n != 1):
        return _split_columns(_names(names, 1), [list(x)], n)
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return _split_columns(_names(names, 1), [list(x)], n)
    return from_ndarray(arr.reshape(1, n), names) if arr.ndim == 1 else None


def _is_row(r: Any) -> bool:
    return isinstance(r, (list, tuple)) or (isinstance(r, np.ndarray) and r.ndim >= 1)


def _from_records(x: Sequence[Any]) -> Table:
    keys: dict[str, None] = {}
    for r in x:
        if isinstance(r, Mapping):
            for k in r:
                keys[k] = None
    names = tuple(str(k) for k in keys)
    columns = [[r.get(k) if isinstance(r, Mapping) else None for r in x] for k in keys]
    return _split_columns(names, columns, len(x))


def from_mapping(x: Mapping[Any, Any], names: Sequence[str] | None) -> Table | None:
    if not x:
        return Table(0, 0)
    keys = list(x)
    values = [x[k] for k in keys]
    col_names = tuple(str(k) for k in keys)
    if not any(_is_column(v) for v in values):
        return _split_columns(col_names, [[v] for v in values], 1)
    columns = [_column_values(v) for v in values]
    rows = max(len(c) for c in columns)
    columns = [c if len(c) == rows else list(c) + [None] * (rows - len(c)) for c in columns]
    return _split_columns(col_names, columns, rows)


def _is_column(v: Any) -> bool:
    return isinstance(v, (list, tuple, np.ndarray)) or type(v).__module__.startswith(("pandas", "torch"))


def _column_values(v: Any) -> Any:
    if isinstance(v, (list, np.ndarray)):
        return v if not isinstance(v, np.ndarray) or v.ndim == 1 else v.reshape(-1)
    if isinstance(v, tuple):
        return list(v)
    converted = to_numpy(v)
    if converted is not None:
        return converted.reshape(-1)
    return [v]


def from_dataframe(x: Any, names: Sequence[str] | None) -> Table | None:
    cols = x.columns.tolist()
    col_names = tuple(cols) if all(type(c) is str for c in cols) else tuple(str(c) for c in cols)
    rows = len(x.index)
    # One conversion tells whether every column is plainly numeric (mixed frames, nullable
    # and categorical columns come back as objects); far cheaper than reading x.dtypes.
    whole = x.to_numpy()
    if whole.dtype.kind in _NUMERIC_KINDS:
        num = whole.astype(np.float64, copy=False)
        return Table(rows, len(col_names), col_names, num, col_names)
    columns: list[Any] = []
    for i, dt in enumerate(x.dtypes):
        s = x.iloc[:, i]
        if dt.kind in _NUMERIC_KINDS:
            columns.append(s.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            columns.append(s.astype(object).where(s.notna(), None).tolist())
    return _split_columns(col_names, columns, rows)


def from_series(x: Any, names: Sequence[str] | None) -> Table | None:
    index = x.index
    is_row = index.dtype.kind == "O" and type(index).__name__ != "RangeIndex"
    if is_row:
        return from_mapping(dict(zip(map(str, index), x.tolist())), None)
    name = str(x.name) if x.name is not None else None
    col_names = (name,) if name is not None else _names(names, 1)
    if x.dtype.kind in _NUMERIC_KINDS:
        return _split_columns(col_names, [x.to_numpy(dtype=np.float64, na_value=np.nan)], len(x))
    return _split_columns(col_names, [x.astype(object).where(x.notna(), None).tolist()], len(x))


def from_sparse(x: Any, names: Sequence[str] | None) -> Table | None:
    rows, cols = x.shape
    col_names = _names(names, cols)
    return Table(rows, cols, col_names, sparse=x.tocsr())


def from_tensor(x: Any, names: Sequence[str] | None) -> Table | None:
    arr = tensor_to_numpy(x)
    return from_ndarray(arr, names)


def tensor_to_numpy(x: Any) -> np.ndarray:
    t = x.detach()
    if t.dtype.is_floating_point and t.element_size() < 4:
        t = t.float()
    return t.cpu().numpy()  # type: ignore[no-any-return]


def to_numpy(x: Any) -> np.ndarray | None:
    """Best-effort conversion of an array-like output to numpy."""
    if isinstance(x, np.ndarray):
        return x
    module = type(x).__module__
    if module.startswith("torch"):
        return tensor_to_numpy(x)
    if module.startswith("pandas"):
        return x.to_numpy()  # type: ignore[no-any-return]
    if module.startswith("scipy.sparse"):
        return x.toarray()  # type: ignore[no-any-return]
    if isinstance(x, (list, tuple)):
        try:
            return np.asarray(x)
        except (TypeError, ValueError):
            return None
    if isinstance(x, (bool, int, float, str, np.generic)):
        return np.asarray(x)
    return None


_handlers: dict[type, Handler | None] = {
    np.ndarray: from_ndarray,
    list: from_list,
    tuple: from_list,
    dict: from_mapping,
    int: from_scalar,
    float: from_scalar,
    bool: from_scalar,
    str: from_scalar,
    bytes: from_scalar,
}


def _resolve(tp: type) -> Handler | None:
    module = tp.__module__ or ""
    names = {c.__name__ for c in tp.__mro__}
    if module.startswith("pandas"):
        if "DataFrame" in names:
            return from_dataframe
        if "Series" in names:
            return from_series
        return None
    if module.startswith("scipy.sparse"):
        return from_sparse
    if module.startswith("torch") and "Tensor" in names:
        return from_tensor
    if issubclass(tp, np.ndarray):
        return from_ndarray
    if issubclass(tp, np.generic):
        return from_scalar
    if issubclass(tp, Mapping):
        return from_mapping
    if issubclass(tp, (list, tuple)):
        return from_list
    if issubclass(tp, (int, float, str, bytes)):
        return from_scalar
    return None


def to_table(x: Any, names: Sequence[str] | None) -> Table | None:
    """The table view of an input, or None for objects modeltrace cannot describe."""
    tp = type(x)
    try:
        handler = _handlers[tp]
    except KeyError:
        handler = _handlers[tp] = _resolve(tp)
    if handler is None:
        return None
    return handler(x, names)

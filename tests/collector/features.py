"""Sampled feature values written straight into ``ml_features``, for drift tests and benchmarks."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np


def insert_values(store: Any, at: dt.datetime, model: str, version: str, side: str, num=None, cat=None, spans=None):
    """Columns of values (``num`` numeric, ``cat`` categorical, all of one length) spread over
    ``spans`` spans (one per value by default) within ten minutes from ``at``."""
    num = num or {}
    cat = cat or {}
    n = max([len(v) for v in num.values()] + [len(v) for v in cat.values()])
    spans = spans or n
    num = {name: np.asarray(values, dtype=np.float64) for name, values in num.items()}
    cols: dict[str, list[Any]] = {
        k: [] for k in ("Timestamp", "TraceId", "SpanId", "ModelName", "ModelVersion", "Operation", "Side")
    }
    cols.update({k: [] for k in ("NumFeature", "NumRow", "NumValue", "CatFeature", "CatRow", "CatValue")})
    for s, idx in enumerate(np.array_split(np.arange(n), spans)):
        cols["Timestamp"].append(at + dt.timedelta(seconds=s % 600))
        cols["TraceId"].append(f"{s:032x}")
        cols["SpanId"].append(f"{s:016x}")
        cols["ModelName"].append(model)
        cols["ModelVersion"].append(version)
        cols["Operation"].append("predict")
        cols["Side"].append(side)
        rows = list(range(len(idx)))
        cols["NumFeature"].append([name for name in num for _ in rows])
        cols["NumRow"].append(rows * len(num))
        cols["NumValue"].append([v for values in num.values() for v in values[idx].tolist()])
        cols["CatFeature"].append([name for name in cat for _ in rows])
        cols["CatRow"].append(rows * len(cat))
        cols["CatValue"].append([values[i] for values in cat.values() for i in idx])
    store.insert("ml_features", list(cols.values()), tuple(cols), token=f"{model}-{version}-{side}-{at}-{n}")

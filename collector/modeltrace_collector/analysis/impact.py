"""Drifted features ranked by what they do: how each goes with latency, with failures and, with
ground truth, with wrong predictions, over the window's calls.

A number's association is Spearman's rank correlation of a call's value with its duration, its
failure and its wrong prediction; a category's is the correlation ratio (eta: the share of the
spread explained by the category, as a correlation) of the log duration, the failure and the
wrong prediction. A feature's impact is the largest of the three in absolute value: a drift that
goes with slower, failing or wrong calls comes first.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .performance import Performance
from .sqlfiles import sql

if TYPE_CHECKING:
    from .drift import DriftAnalyzer

ASSOCIATIONS = ("latency", "errors", "prediction_errors")
WORTH_SAYING = 0.3  # an association this strong is named in a finding's summary


def impacts(
    drift: DriftAnalyzer, model: str, version: str, start_ms: int, end_ms: int, features: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per drifted input feature: its associations, the calls they were measured on and its
    impact (the largest association in absolute value)."""
    db = drift.store.database
    params: dict[str, Any] = {
        "model": model,
        "version_1": version,
        "start_1": start_ms,
        "end_1": end_ms,
        # ground truth, when the model has any (performance_pairs' parameters)
        "start": start_ms,
        "end": end_ms,
        "bucket_ms": max(end_ms - start_ms, 1),
        "score_field": "score",
    }
    labelled = bool(drift.store.query(sql("actuals_any", db), params).result_rows[0][0])
    if labelled:
        params["pred_field"] = Performance(drift.store).prediction_field(params)
    out: dict[str, dict[str, Any]] = {}
    numeric = [f["feature"] for f in features if f["type"] == "numeric"]
    categorical = [f["feature"] for f in features if f["type"] == "categorical"]
    if numeric:
        query = sql("drift_impact_numeric", db, **_fragments(db, labelled, numeric=True))
        for r in drift.store.query(query, {**params, "features": numeric}).named_results():
            out[r["feature"]] = _scored(int(r["calls"]), {k: _finite(r[k]) for k in ASSOCIATIONS})
    if categorical:
        query = sql("drift_impact_categorical", db, **_fragments(db, labelled, numeric=False))
        cells: dict[str, list[dict[str, Any]]] = {}
        for r in drift.store.query(query, {**params, "features": categorical}).named_results():
            cells.setdefault(r["feature"], []).append(r)
        for feature, rows in cells.items():
            out[feature] = _scored(sum(int(r["calls"]) for r in rows), _eta(rows))
    return out


def _fragments(db: str, labelled: bool, numeric: bool) -> dict[str, str]:
    outcomes = sql("impact_outcomes", db)
    if not labelled:
        return {
            "outcomes": outcomes,
            "labelled": "",
            "wrong_column": "",
            "wrong": "nan" if numeric else "0",
            "labelled_calls": "0",
        }
    calls = sql("performance_calls", db, pairs=sql("performance_pairs", db))
    return {
        "outcomes": outcomes,
        "labelled": f"LEFT JOIN ({calls}) AS w ON w.span = c.span",
        "wrong_column": ", w.span != '' AS has_label, toUInt64(w.wrong) AS wrong",
        "wrong": "corrIf(rv, toFloat64(wrong), has_label)" if numeric else "sumIf(wrong, has_label)",
        "labelled_calls": "countIf(has_label)",
    }


def _eta(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Correlation ratios of the log duration, the failures and the wrong predictions across a
    categorical feature's values."""
    n = sum(int(r["calls"]) for r in rows)
    mean = sum(r["calls"] * r["log_mean"] for r in rows) / n
    between = sum(r["calls"] * (r["log_mean"] - mean) ** 2 for r in rows)
    total = between + sum(r["calls"] * r["log_var"] for r in rows)
    out: dict[str, float | None] = {"latency": math.sqrt(between / total) if total > 0 else None}
    out["errors"] = _binary_eta([(int(r["calls"]), int(r["failed"])) for r in rows])
    out["prediction_errors"] = _binary_eta([(int(r["labelled"]), int(r["wrong"])) for r in rows])
    return out


def _binary_eta(cells: list[tuple[int, int]]) -> float | None:
    """eta of a 0/1 outcome across groups given (calls, ones) per group."""
    n = sum(c for c, _ in cells)
    ones = sum(k for _, k in cells)
    if not n or ones in (0, n):
        return None
    p = ones / n
    between = sum(c * (k / c - p) ** 2 for c, k in cells if c)
    return math.sqrt(between / (n * p * (1 - p)))


def _finite(v: Any) -> float | None:
    return float(v) if v is not None and math.isfinite(float(v)) else None


def _scored(calls: int, assoc: dict[str, float | None]) -> dict[str, Any]:
    known = [abs(v) for v in assoc.values() if v is not None]
    return {"calls": calls, **assoc, "impact": max(known) if known else 0.0}


def describe(impact: dict[str, Any]) -> str:
    """The strong associations, in words ('' when none is)."""
    words = {"latency": "latency", "errors": "failures", "prediction_errors": "wrong predictions"}
    strong = [
        f"{words[k]} ({impact[k]:+.2f})"
        for k in ASSOCIATIONS
        if impact.get(k) is not None and abs(impact[k]) >= WORTH_SAYING
    ]
    return "goes with " + ", ".join(strong) if strong else ""

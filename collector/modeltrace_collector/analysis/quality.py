"""Data quality beyond one feature's distribution: calls whose inputs lie far outside the
reference, and the integrity of the columns themselves.

* Outlier calls: a call's score is the largest robust z of its numeric inputs, |x - median| /
  (IQR / 1.349) against the reference. A window whose share of calls above ``OUTLIER_Z`` is
  far beyond the reference's own share (binomial tail under 1e-4, at least 1% and 5 calls) is
  a data-quality finding, with its farthest calls by prediction id and trace.
* Columns: a feature the reference has and the window lacks (missing), one the window has and
  the reference never had (new), one whose values changed type (numbers arriving as strings,
  or the reverse), and one whose values are all null now.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .sqlfiles import sql

if TYPE_CHECKING:
    from .drift import DriftAnalyzer, Reference

OUTLIER_Z = 6.0  # a value this many robust standard deviations from the reference's median
MIN_REFERENCE_VALUES = 50  # per feature, for its median and spread to mean something
MIN_SHARE = 0.01
MIN_OUTLIERS = 5


def outliers(
    drift: DriftAnalyzer, model: str, version: str, start_ms: int, end_ms: int, ref: Reference
) -> dict[str, Any]:
    """The window's outlier calls against the reference's own share of them."""
    from .drift import _surprising

    db = drift.store.database
    params = {
        **drift.params(model, version, "input", start_ms, end_ms, ref),
        "z": OUTLIER_Z,
        "min_values": MIN_REFERENCE_VALUES,
        "model": model,
    }
    calls = sql("outlier_calls", db, source=drift.source("Num", ref))
    rows = drift.store.query(sql("outliers", db, calls=calls), params).result_rows
    sides = {int(r[0]): (int(r[1]), int(r[2])) for r in rows}
    (n0, k0), (n1, k1) = sides.get(0, (0, 0)), sides.get(1, (0, 0))
    expected = (k0 + 1) / (n0 + 1) if n0 else 0.0
    share = k1 / n1 if n1 else 0.0
    flagged = bool(n0 and k1 >= MIN_OUTLIERS and share >= MIN_SHARE and _surprising(k1, n1, expected))
    out: dict[str, Any] = {
        "z": OUTLIER_Z,
        "calls": n1,
        "outliers": k1,
        "share": share,
        "reference_calls": n0,
        "reference_outliers": k0,
        "expected_share": expected,
        "flagged": flagged,
        "examples": [],
    }
    if k1:
        rows = drift.store.query(sql("outlier_examples", db, calls=calls), params).named_results()
        out["examples"] = [
            {**r, "score": round(float(r["score"]), 2), "prediction_id": r["prediction_id"] or ""} for r in rows
        ]
    return out


def outlier_summary(report: dict[str, Any]) -> str:
    worst = report["examples"][0] if report["examples"] else None
    text = (
        f"{report['outliers']} of {report['calls']} calls ({report['share']:.1%}) have an input more than "
        f"{report['z']:g} robust standard deviations from the reference's median (reference: "
        f"{report['reference_outliers']} of {report['reference_calls']})"
    )
    if worst:
        text += f"; farthest: {worst['feature']} at {worst['score']:g} in prediction {worst['prediction_id'] or '?'}"
    return text


def column_issues(features: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """Per (side, feature): missing, new, retyped or all-null columns, in words."""
    by_name: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in features:
        by_name.setdefault((f["side"], f["feature"]), []).append(f)
    # a side the reference does not cover at all (an upload of inputs only has no outputs), or
    # the window does not sample at all, has nothing missing or new
    covered = {
        (f["side"], which)
        for f in features
        for which in ("reference", "current")
        if f[f"n_{which}"] + _nulls(f, which) > 0
    }
    out: dict[tuple[str, str], list[str]] = {}
    for key, entries in by_name.items():
        if not {(key[0], "reference"), (key[0], "current")} <= covered:
            continue
        ref = [f for f in entries if f["n_reference"] + _nulls(f, "reference") > 0]
        cur = [f for f in entries if f["n_current"] + _nulls(f, "current") > 0]
        # the type of the values themselves (an all-null column reads as numeric)
        was = {f["type"] for f in entries if f["n_reference"] > 0}
        now = {f["type"] for f in entries if f["n_current"] > 0}
        issues = []
        if ref and not cur:
            issues.append(f"missing: no values in the window ({sum(f['n_reference'] for f in ref)} in the reference)")
        elif cur and not ref:
            issues.append(f"new: {sum(f['n_current'] for f in cur)} values in the window, none in the reference")
        elif was and not now:
            issues.append("every value is null in the window")
        elif was and now and was != now:
            issues.append(f"changed type: {'/'.join(sorted(was))} in the reference, {'/'.join(sorted(now))} now")
        if issues:
            out[key] = issues
    return out


def _nulls(f: dict[str, Any], side: str) -> int:
    """Null values on one side, from the row count and the null rate."""
    n, rate = f[f"n_{side}"], f[f"null_rate_{side}"]
    return round(n * rate / (1 - rate)) if rate < 1 else 1

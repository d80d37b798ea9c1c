"""Data quality beyond one distribution: outlier calls, and columns missing, new, retyped or null."""

from __future__ import annotations

import datetime as dt

import numpy as np

from modeltrace_collector.analysis.drift import DriftAnalyzer, DriftSettings
from tests.collector.features import insert_values

T0 = dt.datetime(2026, 11, 1, 12, 0, 0)
HOUR_MS = 3_600_000


def ms(t: dt.datetime) -> int:
    return int(t.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def _report(store, model: str):
    return DriftAnalyzer(store, DriftSettings(reference="window")).analyze(
        model, "1", end_ms=ms(T0) + 3 * HOUR_MS, window=3600, reference="window"
    )


def test_calls_far_outside_the_reference_are_flagged_with_the_farthest_as_examples(store):
    """15 of 400 calls carry f1 = 40 (the reference: N(0, 1)); the farthest five are the
    examples, each named by its feature and score. The same traffic without them is quiet."""
    rng = np.random.default_rng(5)
    ref = {"f0": rng.normal(0, 1, 3000), "f1": rng.normal(0, 1, 3000)}
    cur = {"f0": rng.normal(0, 1, 400), "f1": rng.normal(0, 1, 400)}
    insert_values(store, T0, "clean", "1", "input", num=ref)
    insert_values(store, T0 + dt.timedelta(hours=2), "clean", "1", "input", num=cur)
    cur["f1"][:15] = 40.0 + np.arange(15)
    insert_values(store, T0, "odd", "1", "input", num=ref)
    insert_values(store, T0 + dt.timedelta(hours=2), "odd", "1", "input", num=cur)
    quiet = _report(store, "clean")["outliers"]
    assert not quiet["flagged"] and quiet["calls"] == 400 and quiet["outliers"] == 0
    found = _report(store, "odd")["outliers"]
    assert found["flagged"] and found["outliers"] == 15 and found["calls"] == 400
    assert [e["feature"] for e in found["examples"]] == ["f1"] * 5
    scores = [e["score"] for e in found["examples"]]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 40
    # the spans are those that carried the farthest values (insert_values names span s as {s:016x})
    assert [e["span_id"] for e in found["examples"]] == [f"{s:016x}" for s in (14, 13, 12, 11, 10)]


def test_columns_missing_new_retyped_or_all_null_are_named(store):
    """The reference has x (numbers), y (categories), z (numbers); now x arrives as strings, y is
    gone, w is new and z is all null."""
    n = 300
    rng = np.random.default_rng(1)
    insert_values(
        store, T0, "cols", "1", "input",
        num={"x": rng.normal(0, 1, n), "z": rng.normal(0, 1, n)}, cat={"y": ["a", "b", "c"] * (n // 3)},
    )  # fmt: skip
    insert_values(
        store, T0 + dt.timedelta(hours=2), "cols", "1", "input",
        num={"z": [np.nan] * n, "w": rng.normal(0, 1, n)}, cat={"x": [str(v) for v in rng.normal(0, 1, n)]},
    )  # fmt: skip
    issues: dict[str, list[str]] = {}
    for f in _report(store, "cols")["features"]:  # a retyped column has an entry per type
        issues.setdefault(f["feature"], []).extend(f["quality"])
    assert issues["x"] == ["changed type: numeric in the reference, categorical now"]
    assert issues["y"] == [f"missing: no values in the window ({n} in the reference)"]
    assert issues["w"] == [f"new: {n} values in the window, none in the reference"]
    assert issues["z"] == ["every value is null in the window"]

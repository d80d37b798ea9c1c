"""Drift metrics computed in ClickHouse agree with scipy on the same data and binning."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modeltrace_collector.analysis.drift import DriftAnalyzer, DriftSettings, default_test, holm
from tests.collector.features import insert_values

T0 = dt.datetime(2026, 11, 1, 12, 0, 0)
HOUR_MS = 3_600_000


def ms(t: dt.datetime) -> int:
    return int(t.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def scipy_numeric(r, c):
    """The reference computation, in numpy/scipy, with the binning the SQL uses."""
    r, c = np.asarray(r), np.asarray(c)
    r, c = r[~np.isnan(r)], c[~np.isnan(c)]
    rs = np.sort(r)
    edges = np.unique(rs[np.floor(np.arange(1, 10) / 10 * len(rs)).astype(int)])
    rb = np.bincount(np.searchsorted(edges, r, side="left"), minlength=len(edges) + 1) / len(r)
    cb = np.bincount(np.searchsorted(edges, c, side="left"), minlength=len(edges) + 1) / len(c)
    p, q = np.where(rb == 0, 1e-4, rb), np.where(cb == 0, 1e-4, cb)
    ks = stats.ks_2samp(r, c)
    return {
        "ks_statistic": ks.statistic,
        "ks_pvalue": ks.pvalue,
        "wasserstein": stats.wasserstein_distance(r, c),
        "wasserstein_norm": stats.wasserstein_distance(r, c) / np.std(r),
        "psi": float(np.sum((q - p) * np.log(q / p))),
        "js": float(jensenshannon(rb, cb)),
    }


def scipy_categorical(r, c):
    cats = sorted(set(r) | set(c))
    rc = np.array([sum(1 for x in r if x == k) for k in cats], dtype=float)
    cc = np.array([sum(1 for x in c if x == k) for k in cats], dtype=float)
    chi2, pvalue, _, _ = stats.chi2_contingency(np.vstack([rc, cc]))
    rp, cp = rc / rc.sum(), cc / cc.sum()
    p, q = np.where(rp == 0, 1e-4, rp), np.where(cp == 0, 1e-4, cp)
    return {
        "chisquare": chi2,
        "chisquare_pvalue": pvalue,
        "psi": float(np.sum((q - p) * np.log(q / p))),
        "js": float(jensenshannon(rp, cp)),
    }


def close(a, b, tol=1e-6):
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


@pytest.mark.parametrize(
    ("n_ref", "n_cur", "shift", "rounding"),
    [(400, 300, 0.3, None), (2000, 1500, 0.0, None), (900, 700, 0.5, 1), (12000, 11000, 0.05, None), (50, 9, 1.0, 2)],
)
def test_numeric_metrics_match_scipy(store, n_ref, n_cur, shift, rounding):
    rng = np.random.default_rng(n_ref)
    r = rng.normal(10, 2, n_ref)
    c = rng.normal(10 + 2 * shift, 2.4, n_cur)
    if rounding is not None:  # ties
        r, c = np.round(r, rounding), np.round(c, rounding)
    r[::37] = np.nan  # nulls are counted, not compared
    insert_values(store, T0, "m", "1", "input", num={"x": r}, spans=max(1, n_ref // 4))
    insert_values(store, T0 + dt.timedelta(hours=2), "m", "1", "input", num={"x": c}, spans=max(1, n_cur // 3))
    analyzer = DriftAnalyzer(store, DriftSettings(reference="window", min_samples=5))
    report = analyzer.analyze("m", "1", end_ms=ms(T0) + 3 * HOUR_MS, window=3600, reference="window")
    (f,) = [f for f in report["features"] if f["feature"] == "x"]
    expected = scipy_numeric(r, c)
    for key, value in expected.items():
        assert close(f["metrics"][key], value), (key, f["metrics"][key], value)
    assert f["n_reference"] == int(np.sum(~np.isnan(r))) and f["n_current"] == n_cur
    assert close(f["null_rate_reference"], np.mean(np.isnan(r)))
    assert close(f["out_of_range_rate"], np.mean((c < np.nanmin(r)) | (c > np.nanmax(r))))
    assert f["test"] == default_test("numeric", f["n_reference"], 6)


def test_categorical_metrics_match_scipy(store):
    rng = np.random.default_rng(7)
    r = list(rng.choice(["a", "b", "c", "d"], 800, p=[0.4, 0.3, 0.2, 0.1]))
    c = list(rng.choice(["a", "b", "c", "e"], 600, p=[0.25, 0.3, 0.3, 0.15]))
    c[::50] = [None] * len(c[::50])
    insert_values(store, T0, "m", "1", "input", cat={"color": r}, spans=200)
    insert_values(store, T0 + dt.timedelta(hours=2), "m", "1", "input", cat={"color": c}, spans=150)
    report = DriftAnalyzer(store, DriftSettings()).analyze("m", "1", end_ms=ms(T0) + 3 * HOUR_MS, window=3600)
    (f,) = report["features"]
    present = [x for x in c if x is not None]
    for key, value in scipy_categorical(r, present).items():
        assert close(f["metrics"][key], value), (key, f["metrics"][key], value)
    assert f["test"] == "chisquare" and f["drifted"]
    assert f["new_categories"] == ["e"]
    assert close(f["new_category_rate"], sum(x == "e" for x in present) / len(present))
    assert close(f["null_rate_current"], c.count(None) / len(c))


def test_two_categories_use_yates_correction_like_scipy(store):
    r = ["yes"] * 30 + ["no"] * 50
    c = ["yes"] * 45 + ["no"] * 35
    insert_values(store, T0, "m", "1", "input", cat={"flag": r})
    insert_values(store, T0 + dt.timedelta(hours=2), "m", "1", "input", cat={"flag": c})
    report = DriftAnalyzer(store, DriftSettings()).analyze("m", "1", end_ms=ms(T0) + 3 * HOUR_MS, window=3600)
    (f,) = report["features"]
    chi2, pvalue, _, _ = stats.chi2_contingency([[30, 50], [45, 35]])
    assert close(f["metrics"]["chisquare"], chi2) and close(f["metrics"]["chisquare_pvalue"], pvalue)


def test_few_valued_numeric_feature_is_compared_as_categories(store):
    rng = np.random.default_rng(3)
    r = rng.choice([0.0, 1.0, 2.0], 500, p=[0.5, 0.3, 0.2])
    c = rng.choice([0.0, 1.0, 2.0], 400, p=[0.2, 0.3, 0.5])
    insert_values(store, T0, "m", "1", "input", num={"level": r})
    insert_values(store, T0 + dt.timedelta(hours=2), "m", "1", "input", num={"level": c})
    report = DriftAnalyzer(store, DriftSettings()).analyze("m", "1", end_ms=ms(T0) + 3 * HOUR_MS, window=3600)
    (f,) = report["features"]
    assert f["type"] == "categorical" and f["test"] == "chisquare" and f["drifted"]
    expected = scipy_categorical([str(x) for x in r], [str(x) for x in c])
    assert close(f["metrics"]["chisquare"], expected["chisquare"])


def test_dataset_drift_share_thresholds_and_overrides(store):
    rng = np.random.default_rng(11)
    ref = {f"f{i}": rng.normal(0, 1, 3000) for i in range(4)}
    cur = {f"f{i}": rng.normal(0.8 if i < 2 else 0.0, 1, 2000) for i in range(4)}
    insert_values(store, T0, "m", "1", "input", num=ref, spans=1000)
    insert_values(store, T0 + dt.timedelta(hours=2), "m", "1", "input", num=cur, spans=1000)
    end = ms(T0) + 3 * HOUR_MS
    report = DriftAnalyzer(store, DriftSettings()).analyze("m", "1", end_ms=end, window=3600)
    drifted = {f["feature"]: f["drifted"] for f in report["features"]}
    assert drifted == {"f0": True, "f1": True, "f2": False, "f3": False}
    assert all(f["test"] == "wasserstein" for f in report["features"])  # > 1000 reference values
    assert report["drift_share"] == 0.5 and report["dataset_drift"]
    # a per-feature override: PSI with a threshold no shift here reaches
    settings = DriftSettings(thresholds={"m/f0": {"test": "psi", "threshold": 5.0}, "m": {"threshold": 0.2}})
    report = DriftAnalyzer(store, settings).analyze("m", "1", end_ms=end, window=3600)
    f0 = next(f for f in report["features"] if f["feature"] == "f0")
    f1 = next(f for f in report["features"] if f["feature"] == "f1")
    assert f0["test"] == "psi" and f0["threshold"] == 5.0 and not f0["drifted"]
    assert f1["threshold"] == 0.2 and f1["drifted"]
    assert report["drift_share"] == 0.25 and not report["dataset_drift"]


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []


def test_an_open_drift_holds_until_clearly_gone(store):
    """A feature just under the bar that opens a drift keeps an open finding open; far under
    it, or with no finding open, nothing is reported."""
    from modeltrace_collector.analysis.findings import Finding
    from modeltrace_collector.analysis.runner import Analyzer

    rng = np.random.default_rng(5)
    insert_values(store, T0, "m", "1", "input", num={"x": rng.normal(0, 1, 3000)}, spans=1000)
    insert_values(store, T0 + dt.timedelta(hours=2), "m", "1", "input", num={"x": rng.normal(0.5, 1, 2000)}, spans=1000)
    end = ms(T0) + 3 * HOUR_MS
    settings = DriftSettings(window=3600, reference_window=7200)
    psi = next(f for f in DriftAnalyzer(store, settings).analyze("m", "1", end_ms=end)["features"])["metrics"]["psi"]
    assert psi > 0.1

    def findings(threshold: float, open_now: list[Finding]) -> list[str]:
        rules = {"m": {"test": "psi", "threshold": threshold}}
        rule = DriftSettings(window=3600, reference_window=7200, thresholds=rules)
        out, scope = Analyzer(store, drift=rule).drift_findings(end, "m", open_now)
        assert scope == {("m", "1")}
        return [f.subject for f in out if f.kind == "drift"]

    opened = Finding("drift", "m", "1", "", "input.x", psi, psi, "warning", end - HOUR_MS, end)
    assert findings(psi * 0.9, []) == ["input.x"]  # over the threshold: drift
    assert findings(psi * 1.1, []) == []  # just under it: not enough to open one
    assert findings(psi * 1.1, [opened]) == ["input.x"]  # but an open one holds
    assert findings(psi * 1.5, [opened]) == []  # clearly under it: resolved
    # a run leaves each tested feature's scores in ml_drift_scores; a re-run at the same time
    # (the same model, version and minute) is stored once
    rows = store.query(
        f"SELECT Feature, Test, Threshold, Drifted, PSI, NCurrent FROM {store.database}.ml_drift_scores"
    ).result_rows
    assert [(r[0], r[1], r[3], r[5]) for r in rows] == [("x", "psi", True, 2000)]
    assert rows[0][2] == pytest.approx(psi * 0.9) and rows[0][4] == pytest.approx(psi)


def test_out_of_range_rate_matches_its_expectation_on_unchanged_data(store):
    """A fresh value falls outside the range of n reference values with probability 2/(n+1):
    on unchanged data the measured rate averages that, and no data-quality issue is raised."""
    rng = np.random.default_rng(3)
    rates = []
    for k in range(12):
        model = f"m{k}"
        insert_values(store, T0, model, "1", "input", num={"x": rng.normal(0, 1, 80)})
        cur = {"x": rng.normal(0, 1, 2000)}
        insert_values(store, T0 + dt.timedelta(hours=2), model, "1", "input", num=cur, spans=500)
        report = DriftAnalyzer(store, DriftSettings()).analyze(model, "1", end_ms=ms(T0) + 3 * HOUR_MS, window=3600)
        [f] = report["features"]
        assert not f["quality"]
        rates.append(f["out_of_range_rate"])
    assert np.mean(rates) == pytest.approx(2 / 81, abs=0.012)


def _batches(rng, calls: int, rows: int, shift: float = 0.0):
    """``calls`` batches of ``rows`` rows each: numbers near the batch's own centre, one region
    per batch (rows of one call are alike, as real batches are)."""
    centres = rng.normal(shift, 1, calls)
    x = np.repeat(centres, rows) + rng.normal(0, 0.2, calls * rows)
    region = np.repeat(rng.choice(["eu", "us", "apac"], calls, p=[0.5, 0.3, 0.2]), rows)
    return {"x": x}, {"region": region.tolist()}


@pytest.mark.parametrize("shift", [0.0, 1.0])
def test_rows_of_one_call_count_as_one_effective_value_not_many(store, shift):
    """60 calls of 20 alike rows each on both sides. Counted as 1,200 independent rows, the
    unchanged data would drift by chance (scipy's KS p on the rows is below 0.01 for this seed);
    counted by their effective sample size (near the number of calls) it does not. A real shift
    of one standard deviation is still found."""
    rng = np.random.default_rng(7)
    num_r, cat_r = _batches(rng, 60, 20)
    num_c, cat_c = _batches(rng, 60, 20, shift)
    insert_values(store, T0, "b", "1", "input", num=num_r, cat=cat_r, spans=60)
    insert_values(store, T0 + dt.timedelta(hours=2), "b", "1", "input", num=num_c, cat=cat_c, spans=60)
    report = DriftAnalyzer(store, DriftSettings(reference="window")).analyze(
        "b", "1", end_ms=ms(T0) + 3 * HOUR_MS, window=3600, reference="window"
    )
    by_name = {f["feature"]: f for f in report["features"]}
    x, region = by_name["x"], by_name["region"]
    for f in (x, region):
        assert f["n_reference"] == f["n_current"] == 1200 and f["calls_reference"] == f["calls_current"] == 60
        assert f["design_effect_reference"] > 5 and f["design_effect_current"] > 5
        assert 30 <= f["effective_reference"] <= 200 and 30 <= f["effective_current"] <= 200
    if shift == 0.0:
        assert stats.ks_2samp(num_r["x"], num_c["x"]).pvalue < 0.01  # what counting rows would say
        assert not x["drifted"] and not region["drifted"] and x["metrics"]["ks_pvalue"] > 0.05
    else:
        assert x["drifted"] and x["metrics"]["ks_pvalue"] < 1e-4


def test_too_few_calls_are_not_judged_however_many_rows(store):
    """A new version's first 12 calls carry 100 rows each: 1,200 values, but 12 calls are not
    enough to judge it (min_calls 30), whatever the rows say."""
    rng = np.random.default_rng(3)
    insert_values(store, T0, "few", "1", "input", num={"x": rng.normal(0, 1, 3000)}, spans=3000)
    insert_values(store, T0 + dt.timedelta(hours=2), "few", "1", "input", num={"x": rng.normal(0, 1, 1200)}, spans=12)
    report = DriftAnalyzer(store, DriftSettings(reference="window")).analyze(
        "few", "1", end_ms=ms(T0) + 3 * HOUR_MS, window=3600, reference="window"
    )
    (x,) = report["features"]
    assert x["calls_current"] == 12 and x["n_current"] == 1200
    assert not x["tested"] and not x["drifted"]

"""Multivariate drift (PCA reconstruction error) on a real chDB store: it finds a change in how
features move together that the per-feature tests cannot see, and stays quiet without one."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pytest

from modeltrace_collector.analysis.drift import DriftAnalyzer, DriftSettings
from modeltrace_collector.analysis.multivariate import MultivariateDrift, MultivariateSettings, fit
from modeltrace_collector.query.catalog import REFERENCE_COLUMNS
from modeltrace_collector.storage import schema

T0 = dt.datetime(2026, 11, 1, 12, 0, 0)
HOUR_MS = 3_600_000
NAMES = ["f0", "f1", "f2", "f3"]
COLUMNS = ("Timestamp", "TraceId", "SpanId", "ModelName", "ModelVersion", "Operation", "Side")
COLUMNS += ("NumFeature", "NumRow", "NumValue", "CatFeature", "CatRow", "CatValue")


def ms(t: dt.datetime) -> int:
    return int(t.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def table(rng: np.random.Generator, n: int, rho: float) -> np.ndarray:
    """n rows: f0 and f1 standard normal with correlation ``rho``, f2 and f3 independent of them
    (on other scales). Each feature's own distribution does not depend on ``rho``."""
    f0 = rng.normal(0, 1, n)
    f1 = rho * f0 + np.sqrt(1 - rho**2) * rng.normal(0, 1, n)
    return np.column_stack([f0, 10 + 3 * f1, rng.normal(5, 2, n), rng.exponential(1.0, n)])


def insert_calls(
    store: Any,
    at: dt.datetime,
    rows: np.ndarray,
    names: list[str] = NAMES,
    batch: int = 1,
    minutes: int = 50,
    model: str = "m",
    version: str = "1",
) -> None:
    """``rows`` as calls of ``batch`` consecutive rows each (unique span ids), spread over
    ``minutes`` from ``at``. A NaN at an odd row index is left out of the call (the row lacks
    the feature); at an even one it is stored as NaN."""
    cols: dict[str, list[Any]] = {k: [] for k in COLUMNS}
    calls = np.array_split(np.arange(len(rows)), max(1, len(rows) // batch))
    tag = f"{ms(at)}-{len(rows)}-{batch}"
    for s, idx in enumerate(calls):
        cols["Timestamp"].append(at + dt.timedelta(seconds=s * minutes * 60 / len(calls)))
        cols["TraceId"].append(f"{tag}-t{s}")
        cols["SpanId"].append(f"{tag}-s{s}")
        cols["ModelName"].append(model)
        cols["ModelVersion"].append(version)
        cols["Operation"].append("predict")
        cols["Side"].append("input")
        cells = [
            (name, r, float(rows[i, j]))
            for j, name in enumerate(names)
            for r, i in enumerate(idx)
            if not (np.isnan(rows[i, j]) and i % 2)
        ]
        cols["NumFeature"].append([c[0] for c in cells])
        cols["NumRow"].append([c[1] for c in cells])
        cols["NumValue"].append([c[2] for c in cells])
        cols["CatFeature"].append([])
        cols["CatRow"].append([])
        cols["CatValue"].append([])
    store.insert("ml_features", list(cols.values()), tuple(cols), token=f"mv-{model}-{version}-{tag}")


def run(store: Any, settings: MultivariateSettings | None = None, reference: str = "window") -> dict[str, Any]:
    """The analysis of the hour ending at T0 + 3h (reference: the day before T0 + 2h)."""
    end = ms(T0) + 3 * HOUR_MS
    ref = DriftAnalyzer(store, DriftSettings()).pick_reference("m", "1", end - HOUR_MS, reference)
    result = MultivariateDrift(store, settings).analyze("m", "1", end_ms=end, window_seconds=3600, reference=ref)
    json.dumps(result, allow_nan=False)  # what the API sends: JSON with no NaN or infinity
    return result


def expected_sd(result: dict[str, Any]) -> float:
    """The sd of the current-minus-reference mean error the analysis documents (decide)."""
    e, n, m = result["reference_error"], result["calls"]["reference"], result["calls"]["current"]
    window = max(e["chunk_sd"] * np.sqrt(e["chunk_calls"] / m), e["call_sd"] / np.sqrt(m))
    baseline = max(e["chunk_sd"] / np.sqrt(e["chunks"]), e["call_sd"] / np.sqrt(n))
    return float(np.hypot(window, baseline))


def test_correlation_flip_is_found_where_no_single_feature_drifts(store):
    rng = np.random.default_rng(1)
    insert_calls(store, T0, table(rng, 3000, 0.9))
    insert_calls(store, T0 + dt.timedelta(hours=2), table(rng, 600, -0.9))

    result = run(store)
    assert result["tested"] and result["drifted"], result
    assert result["score"] > 3
    assert result["current_error"] > result["bounds"][1]
    assert result["calls"] == {"reference": 3000, "current": 600}
    assert result["reference"]["kind"] == "window"
    # the two features whose relation changed lead the contributions
    assert {c["feature"] for c in result["contributions"][:2]} == {"f0", "f1"}
    assert result["contributions"][0]["change"] > 0

    univariate = DriftAnalyzer(store, DriftSettings()).analyze(
        "m", "1", end_ms=ms(T0) + 3 * HOUR_MS, window=3600, reference="window"
    )
    tested = [f for f in univariate["features"] if f["tested"]]
    assert {f["feature"] for f in tested} == set(NAMES)
    assert not any(f["drifted"] for f in tested), [(f["feature"], f["score"]) for f in tested]
    assert not univariate["dataset_drift"]


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_no_change_no_drift(store, seed):
    rng = np.random.default_rng(seed)
    insert_calls(store, T0, table(rng, 3000, 0.9))
    insert_calls(store, T0 + dt.timedelta(hours=2), table(rng, 600, 0.9))

    result = run(store)
    assert result["tested"] and not result["drifted"], result
    assert abs(result["score"]) < 3
    assert result["components"] == 2 and result["explained_variance"] >= 0.65
    # 600 current calls against 3000: 20 chunks of 150 calls, their spread scaled to 600 calls
    ref_error = result["reference_error"]
    assert ref_error["chunks"] == 20 and ref_error["chunk_calls"] == 150
    assert ref_error["sd"] == pytest.approx(expected_sd(result))
    lo, hi = result["bounds"]
    assert (hi - ref_error["mean"], ref_error["mean"] - lo) == pytest.approx((3 * ref_error["sd"],) * 2)


def test_chunks_of_the_window_size_when_the_reference_is_large(store):
    rng = np.random.default_rng(5)
    insert_calls(store, T0, table(rng, 4000, 0.9))
    insert_calls(store, T0 + dt.timedelta(hours=2), table(rng, 150, 0.9))

    result = run(store)
    ref_error = result["reference_error"]
    assert ref_error["chunk_calls"] == 150 and ref_error["chunks"] == 4000 // 150
    assert ref_error["sd"] == pytest.approx(expected_sd(result))  # unscaled: the chunks are the window's size
    assert result["tested"] and not result["drifted"], result


def test_too_few_calls_or_features_are_not_tested(store):
    rng = np.random.default_rng(6)
    insert_calls(store, T0, table(rng, 2000, 0.9))
    insert_calls(store, T0 + dt.timedelta(hours=2), table(rng, 60, -0.9))
    result = run(store)
    assert not result["tested"] and not result["drifted"]
    assert "too few calls" in result["note"] and "60 in the window" in result["note"]
    assert result["calls"] == {"reference": 2000, "current": 60}

    # a lower bound is a setting
    assert run(store, MultivariateSettings(min_calls=50, min_chunks=10))["tested"]


def test_one_numeric_feature_is_not_tested(store):
    rng = np.random.default_rng(7)
    insert_calls(store, T0, table(rng, 2000, 0.9)[:, :1], names=["f0"])
    insert_calls(store, T0 + dt.timedelta(hours=2), table(rng, 500, 0.9)[:, :1], names=["f0"])
    result = run(store)
    assert not result["tested"]
    assert "at least 2 numeric input features" in result["note"] and "found 1" in result["note"]


def test_constant_feature_is_left_out(store):
    rng = np.random.default_rng(8)
    ref, cur = table(rng, 2000, 0.9), table(rng, 500, 0.9)
    ref[:, 3] = cur[:, 3] = 1.0
    insert_calls(store, T0, ref)
    insert_calls(store, T0 + dt.timedelta(hours=2), cur)
    result = run(store)
    assert result["tested"] and result["features"] == ["f0", "f1", "f2"]


def test_missing_values_take_the_reference_mean(store):
    rng = np.random.default_rng(9)
    ref, cur = table(rng, 3000, 0.9), table(rng, 600, 0.9)
    for x in (ref, cur):
        x[rng.random(x.shape) < 0.05] = np.nan  # about 5% of the values, half stored as NaN, half absent
    insert_calls(store, T0, ref)
    insert_calls(store, T0 + dt.timedelta(hours=2), cur)

    result = run(store)
    assert result["tested"] and not result["drifted"], result
    assert 0.03 < result["missing"]["reference"] < 0.07 and 0.03 < result["missing"]["current"] < 0.07
    assert np.isfinite(result["current_error"]) and np.isfinite(result["reference_error"]["mean"])

    # and the flip is still found through them
    flipped = table(rng, 600, -0.9)
    flipped[rng.random(flipped.shape) < 0.05] = np.nan
    insert_calls(store, T0 + dt.timedelta(hours=2, minutes=1), flipped)
    assert run(store)["drifted"]


@pytest.mark.parametrize("seed", [10, 11, 12, 13])
def test_batches_of_near_identical_rows_do_not_alarm(store, seed):
    """Each call carries 16 rows that differ by 1% noise: 400 calls are 400 units, not 6400, and
    bounds built as if rows were independent would be about four times too narrow."""
    rng = np.random.default_rng(seed)

    def batches(calls: int) -> np.ndarray:
        base = np.repeat(table(rng, calls, 0.9), 16, axis=0)
        return base + rng.normal(0, 0.01, base.shape)

    insert_calls(store, T0, batches(2000), batch=16)
    insert_calls(store, T0 + dt.timedelta(hours=2), batches(400), batch=16)

    result = run(store)
    assert result["tested"] and not result["drifted"], result
    assert result["calls"] == {"reference": 2000, "current": 400}
    assert result["rows"] == {"reference": 32000, "current": 6400}
    lo, hi = result["bounds"]
    rows_as_units = 3 * result["reference_error"]["row_sd"] / np.sqrt(result["rows"]["current"])
    assert (hi - lo) / 2 > 2 * rows_as_units


def test_rows_are_sampled_by_call_to_a_bound(store):
    rng = np.random.default_rng(14)
    insert_calls(store, T0, table(rng, 8000, 0.9), batch=4)
    insert_calls(store, T0 + dt.timedelta(hours=2), table(rng, 4000, -0.9), batch=4)
    result = run(store, MultivariateSettings(max_rows=2000))
    assert 1500 < result["rows"]["reference"] < 2500 and 1500 < result["rows"]["current"] < 2500
    assert result["rows"]["reference"] == 4 * result["calls"]["reference"]  # whole calls
    assert result["sampled"]["reference"] == pytest.approx(0.25) and result["sampled"]["current"] == pytest.approx(0.5)
    assert result["drifted"]
    assert run(store, MultivariateSettings(max_rows=2000)) | {"seconds": 0} == result | {"seconds": 0}  # deterministic


def test_errors_of_the_rows_fit_on_would_alarm_without_cross_fitting(store):
    """40 features, a reference of 400 calls, no change: a PCA's errors on its own rows are too
    small (its components follow the sample's noise), so in-sample bounds alarm; cross-fitted
    ones do not."""
    rng = np.random.default_rng(18)
    names = [f"x{i:02d}" for i in range(40)]

    def wide(n: int) -> np.ndarray:
        factor = rng.normal(size=(n, 1))
        return np.hstack([0.9 * factor + 0.44 * rng.normal(size=(n, 20)), rng.normal(size=(n, 20))])

    insert_calls(store, T0, wide(400), names=names)
    insert_calls(store, T0 + dt.timedelta(hours=2), wide(200), names=names)
    in_sample = run(store, MultivariateSettings(folds=1))
    assert in_sample["tested"] and in_sample["drifted"], in_sample["score"]
    result = run(store)
    assert result["tested"] and not result["drifted"], result["score"]


def upload(store: Any, reference_id: str, columns: dict[str, np.ndarray]) -> None:
    now = dt.datetime(2026, 11, 1)
    n = len(columns)
    rows = [
        [now] * n,
        [reference_id] * n,
        ["m"] * n,
        ["1"] * n,
        ["input"] * n,
        list(columns),
        ["test"] * n,
        [v.tolist() for v in columns.values()],
        [[]] * n,
    ]
    store.insert(schema.REFERENCES, rows, REFERENCE_COLUMNS, token=f"ref-{reference_id}")


def test_uploaded_reference_rows_are_rebuilt_by_position(store):
    rng = np.random.default_rng(15)
    ref = table(rng, 3000, 0.9)
    columns = {name: ref[:, j] for j, name in enumerate(NAMES)}
    columns["f3"] = columns["f3"][:2500]  # not of the others' length: left out
    upload(store, "00000000000000aa", columns)
    insert_calls(store, T0 + dt.timedelta(hours=2), table(rng, 600, -0.9))
    result = run(store, reference="auto")
    assert result["reference"] == {"kind": "upload", "reference_id": "00000000000000aa", "version": "1"}
    assert result["tested"] and result["drifted"]
    assert result["calls"]["reference"] == 3000
    assert result["features"] == ["f0", "f1", "f2"] and "['f3']" in result["note"]


def test_uploaded_reference_without_rows_falls_back_to_a_window(store):
    rng = np.random.default_rng(16)
    ref = table(rng, 3000, 0.9)
    upload(store, "00000000000000bb", {"f0": ref[:, 0], "f1": ref[:2000, 1]})  # rows cannot be rebuilt
    insert_calls(store, T0, ref)
    insert_calls(store, T0 + dt.timedelta(hours=2), table(rng, 600, 0.9))
    result = run(store, reference="auto")
    assert result["reference"]["kind"] == "window"
    assert "cannot be rebuilt" in result["note"]
    assert result["tested"] and not result["drifted"]


def test_components_leave_something_to_reconstruct():
    rng = np.random.default_rng(17)
    independent = rng.normal(size=(5000, 2))  # two equal components: 0.65 would need both
    model = fit(independent, 0.65)
    assert model.components.shape == (2, 1)
    correlated = table(rng, 5000, 0.9)
    assert fit(correlated, 0.65).components.shape[1] == 2
    assert fit(correlated, 0.99).components.shape[1] == 3


@pytest.mark.parametrize("bad", [{"variance": 1.0}, {"min_chunks": 1}, {"folds": 0}, {"sigmas": 0}])
def test_settings_that_cannot_work_are_refused(bad):
    with pytest.raises(ValueError):
        MultivariateSettings(**bad)

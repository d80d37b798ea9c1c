"""Time of one multivariate drift analysis (PCA reconstruction error) on a chDB store.

Each side (the reference day and the current hour) holds ``--rows`` rows of 8 numeric features,
as single-row calls and as calls of 8 rows; the analysis samples at most ``max_rows`` rows per
side (50,000 by default). Prints the time of each query and of the whole analysis, and of
the univariate drift analysis (DriftAnalyzer) of the same data for comparison.
Run: ``python tests/bench/bench_multivariate.py [--rows 200000]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

FEATURES = [f"x{i}" for i in range(8)]
T0 = dt.datetime(2026, 11, 1, 12, 0, 0)


def rows(rng: np.random.Generator, n: int, rho: float) -> np.ndarray:
    """8 features: x0..x3 share a factor (correlation about ``rho``), x4..x7 independent."""
    factor = rng.normal(size=(n, 1))
    shared = np.sqrt(abs(rho)) * factor * np.array([1, 1, 1, np.sign(rho)]) + np.sqrt(1 - abs(rho)) * rng.normal(
        size=(n, 4)
    )
    return np.hstack([shared, rng.normal(size=(n, 4))])


def insert(store: Any, at: dt.datetime, minutes: int, values: np.ndarray, batch: int, tag: str) -> None:
    """``values`` as calls of ``batch`` rows spread over ``minutes``, inserted 20,000 calls at a time."""
    n_calls = len(values) // batch
    d = values.shape[1]
    feature = [name for name in FEATURES for _ in range(batch)]
    row = list(range(batch)) * d
    for lo in range(0, n_calls, 20_000):
        hi = min(n_calls, lo + 20_000)
        block = values[lo * batch : hi * batch].reshape(hi - lo, batch, d).transpose(0, 2, 1).reshape(hi - lo, -1)
        cols: list[list[Any]] = [
            [at + dt.timedelta(seconds=s * minutes * 60 / n_calls) for s in range(lo, hi)],
            [f"{tag}-t{s}" for s in range(lo, hi)],
            [f"{tag}-s{s}" for s in range(lo, hi)],
            ["m"] * (hi - lo),
            ["1"] * (hi - lo),
            ["predict"] * (hi - lo),
            ["input"] * (hi - lo),
            [feature] * (hi - lo),
            [row] * (hi - lo),
            block.tolist(),
            [[]] * (hi - lo),
            [[]] * (hi - lo),
            [[]] * (hi - lo),
        ]
        names = ("Timestamp", "TraceId", "SpanId", "ModelName", "ModelVersion", "Operation", "Side")
        names += ("NumFeature", "NumRow", "NumValue", "CatFeature", "CatRow", "CatValue")
        store.insert("ml_features", cols, names, token=f"bench-{tag}-{lo}")


class Timed:
    """A store whose queries are timed by their first comment-free line."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.database = store.database
        self.times: list[tuple[str, float]] = []

    def query(self, sql: str, parameters: Any = None, settings: Any = None) -> Any:
        t0 = time.perf_counter()
        out = self.store.query(sql, parameters, settings)
        what = "rows" if "groupArrayInsertAt" in sql else "profile" if "stddevSampIf" in sql else sql.split()[1]
        self.times.append((what, time.perf_counter() - t0))
        return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()

    from modeltrace_collector.analysis.drift import DriftAnalyzer, DriftSettings
    from modeltrace_collector.analysis.multivariate import MultivariateDrift
    from modeltrace_collector.storage.client import resolve
    from modeltrace_collector.storage.migrate import SchemaOptions
    from modeltrace_collector.storage.store import Store

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(resolve(f"chdb://{tmp}/chdb", tmp), SchemaOptions())
        store.migrate()
        end = int((T0 + dt.timedelta(hours=3)).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
        for batch in (1, 8):
            model_version = ("m", "1")
            store.client.command(f"TRUNCATE TABLE {store.database}.ml_features")
            t0 = time.perf_counter()
            insert(store, T0 - dt.timedelta(hours=20), 20 * 60, rows(rng, args.rows, 0.8), batch, f"ref{batch}")
            insert(store, T0 + dt.timedelta(hours=2), 50, rows(rng, args.rows, -0.8), batch, f"cur{batch}")
            print(f"calls of {batch} row(s): inserted 2 x {args.rows} rows in {time.perf_counter() - t0:.1f} s")
            ref = DriftAnalyzer(store, DriftSettings()).pick_reference(*model_version, end - 3_600_000, "window")
            for attempt in ("first", "second"):
                timed = Timed(store)
                result = MultivariateDrift(timed).analyze(*model_version, end, 3600, ref)  # type: ignore[arg-type]
                queries = ", ".join(f"{what} {seconds:.2f} s" for what, seconds in timed.times)
                print(
                    f"  {attempt} run: {result['seconds']:.2f} s ({queries}); "
                    f"rows used {result['rows']}, calls {result['calls']}, "
                    f"drifted {result['drifted']} (score {result['score']:.1f})"
                )
            t0 = time.perf_counter()
            DriftAnalyzer(store, DriftSettings()).analyze(*model_version, end, 3600, "window")
            print(f"  for comparison, the univariate drift of the same data: {time.perf_counter() - t0:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Multivariate drift: a change in how a model's numeric inputs move together, by PCA reconstruction error.

Two features can keep their own distributions while their relation turns over (correlated +0.9
in the reference, -0.9 now): every per-feature test passes, yet the model sees inputs unlike
those it learnt from. The method (data reconstruction, as NannyML describes it):

1. on the reference, standardise each feature (its mean and standard deviation) and keep the
   principal components that explain ``variance`` of the total (0.65 by default, never all of
   them: the last one is always left out, or nothing could be measured);
2. a row's reconstruction error is the Euclidean distance between the standardised row and its
   projection on those components; a window's error is the mean over its rows;
3. the reference, cut into chunks of whole calls, gives the expected error and its spread; the
   current window drifts when its mean error is outside mean +- ``sigmas`` sd (and differs from
   the mean by at least ``min_change`` of it, so a huge sample does not alarm on a trivial change).

Two departures from a plain fit-then-score, both measured (a simulation of unchanged data):

- cross-fitting (``folds``, see cross_fit): a row's error comes from a model fit without its call,
  on both sides. Errors of the rows a PCA was fit to are too small, and in-sample bounds alarmed
  on an unchanged window in a third of the runs with 8 features and 100 reference calls, and in
  every run with 50 features and 1,000;
- the sd (see decide) is that of the difference between the window's mean and the reference's:
  the window's part is the larger of the chunks' sd scaled to the window's size and a per-call
  sampling sd, and the reference mean's own uncertainty is added. With both, unchanged data
  alarms in about 1% of runs or fewer, from 100 reference calls up.

Sizes count calls, not rows: the rows of one call (a batch) often share most of their values, so
a window of m calls varies like m units, whatever its row count. The reference's chunks are made
of as many calls as the current window holds, taken in time order (an upload's rows in a hashed
order), so their spread is directly that of the window's mean, time-of-day effects included.
When the reference is too small for ``min_chunks`` such chunks, it is cut into ``min_chunks``
smaller ones and their spread is scaled by sqrt(chunk calls / window calls), which assumes
calls are independent.

ClickHouse pivots the sampled values (``ml_features``: one line per call with arrays of feature,
row and value) into row vectors; at most about ``max_rows`` rows per side come back, whole calls
chosen by a hash of the call, and numpy does the rest (d x d eigen-decompositions). A missing
value (null, NaN, or a feature a row lacks) takes the reference mean, i.e. 0 once standardised;
the standardisation uses the present values only.

An uploaded reference (``ml_references``) stores one array per feature; its rows are rebuilt by
position, which needs features of equal length (those of the most common length are used).
When fewer than two features align, the reference is the window before the current one, and the
result says so.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..config import DriftConfig
from ..storage.store import StoreView
from .drift import DriftAnalyzer, DriftSettings, Reference
from .sqlfiles import sql

Matrix = npt.NDArray[np.float64]
Ids = npt.NDArray[np.uint64]

SIDE = "input"
SIDES = ("reference", "current")
PER_MILLION = 1_000_000


@dataclass(frozen=True)
class MultivariateSettings:
    variance: float = 0.65  # share of the reference's variance the kept components explain
    sigmas: float = 3.0  # drift outside the reference's mean error +- sigmas * sd (see decide)
    min_change: float = 0.02  # ... and at least this share of the reference's mean error away
    min_calls: int = 100  # calls needed on each side
    min_chunks: int = 20  # the reference is cut into at least this many chunks
    max_rows: int = 50_000  # rows sampled per side, about (whole calls are sampled)
    max_features: int = 50  # features used at most (those with the most reference values)
    folds: int = 5  # cross-fitting: each row's error by a model fit without its call (1: no cross-fitting)
    reference_window: float = DriftConfig().reference_window_seconds  # a fallback window reference

    def __post_init__(self) -> None:
        if not 0 < self.variance < 1:
            raise ValueError("variance is a share between 0 and 1")
        if self.sigmas <= 0 or self.min_change < 0:
            raise ValueError("sigmas must be positive and min_change not negative")
        if self.min_chunks < 2 or self.folds < 1 or self.max_rows < 1 or self.max_features < 2:
            raise ValueError("min_chunks >= 2, folds >= 1, max_rows >= 1 and max_features >= 2")

    @classmethod
    def of(cls, drift: DriftSettings, **overrides: Any) -> MultivariateSettings:
        """The defaults with the drift analysis's reference window."""
        return cls(**{"reference_window": drift.reference_window, **overrides})


@dataclass(frozen=True)
class Sample:
    """One side's pulled rows: values (rows x features, NaN for missing), each row's call and the
    order of its call (its time, or a hash for an upload)."""

    x: Matrix
    call: Ids
    ord: Ids
    calls: int  # distinct calls

    @classmethod
    def of(cls, x: Matrix, call: Ids, order: Ids) -> Sample:
        return cls(x, call, order, len(np.unique(call)))


@dataclass(frozen=True)
class Model:
    """A fitted reconstruction: standardisation and the kept components (features x k)."""

    mean: Matrix
    std: Matrix
    components: Matrix
    explained: float

    def residuals(self, x: Matrix) -> Matrix:
        z = np.nan_to_num((x - self.mean) / self.std, nan=0.0)
        return z - (z @ self.components) @ self.components.T


def fit(x: Matrix, variance: float, k: int | None = None) -> Model:
    """Standardise ``x`` (present values only) and keep ``k`` components, by default the fewest
    explaining ``variance`` of the total, at least one and at most all but one."""
    with warnings.catch_warnings():  # a feature without a present value: mean 0, sd 1
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nan_to_num(np.nanmean(x, axis=0), nan=0.0)
        std = np.nanstd(x, axis=0, ddof=1)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    z = np.nan_to_num((x - mean) / std, nan=0.0)
    values, vectors = np.linalg.eigh(z.T @ z / max(len(z) - 1, 1))
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
    shares = np.cumsum(values) / (values.sum() or 1.0)
    if k is None:
        k = min(max(int(np.searchsorted(shares, variance - 1e-12)) + 1, 1), x.shape[1] - 1)
    return Model(mean, std, vectors[:, :k], float(shares[k - 1]))


def row_errors(model: Model, x: Matrix) -> tuple[Matrix, Matrix]:
    """Each row's reconstruction error and its squared residuals per feature."""
    squared = model.residuals(x) ** 2
    return np.sqrt(squared.sum(axis=1)), squared


@dataclass(frozen=True)
class Errors:
    """Reconstruction errors of both sides' rows, each row's by a model that never saw its call."""

    components: int
    explained: float
    reference: Matrix
    reference_sq: Matrix
    current: Matrix
    current_sq: Matrix


def cross_fit(reference: Sample, current: Sample, variance: float, folds: int) -> Errors:
    """The calls are split into ``folds`` by a hash of the call; a fold's rows, on both sides, are
    reconstructed by a model fit on the other folds of the reference (with the components the
    whole reference keeps). A reference row's error then comes from a model that did not see it,
    as a current row's does: errors measured on the rows a PCA was fit to are too small (its
    components follow that sample's noise), and by enough to alarm on an unchanged window when
    the reference is small or the features many. Whole calls go to one fold: a batch's near-copies
    of a row would otherwise be seen in training."""
    whole = fit(reference.x, variance)
    k = whole.components.shape[1]
    out = Errors(
        k,
        whole.explained,
        np.zeros(len(reference.x)),
        np.zeros(reference.x.shape),
        np.zeros(len(current.x)),
        np.zeros(current.x.shape),
    )
    ref_fold, cur_fold = reference.call % np.uint64(folds), current.call % np.uint64(folds)
    for f in range(folds):
        held = ref_fold == f
        model = fit(reference.x[~held] if folds > 1 else reference.x, variance, k)
        out.reference[held], out.reference_sq[held] = row_errors(model, reference.x[held])
        now = cur_fold == f
        out.current[now], out.current_sq[now] = row_errors(model, current.x[now])
    return out


@dataclass(frozen=True)
class Spread:
    """The reference's errors summed per call, its calls in time order (an upload's hashed)."""

    sums: Matrix
    rows: Matrix

    @classmethod
    def of(cls, errors: Matrix, sample: Sample) -> Spread:
        calls, first, inverse = np.unique(sample.call, return_index=True, return_inverse=True)
        sums = np.bincount(inverse, weights=errors, minlength=len(calls)).astype(np.float64)
        rows = np.bincount(inverse, minlength=len(calls)).astype(np.float64)
        order = np.lexsort((calls, sample.ord[first]))
        return cls(sums[order], rows[order])

    def chunk_means(self, chunk_calls: int) -> Matrix:
        """Mean error of consecutive chunks of ``chunk_calls`` calls; an incomplete last one is left out."""
        n = len(self.sums) // chunk_calls * chunk_calls
        sums = self.sums[:n].reshape(-1, chunk_calls).sum(axis=1)
        rows = self.rows[:n].reshape(-1, chunk_calls).sum(axis=1)
        result: Matrix = sums / rows
        return result

    def call_sd(self) -> float:
        """The sd of a mean error over one call, calls taken as independent units (so m calls' mean
        varies by call_sd / sqrt(m), whatever their rows): from each call's deviation from the
        overall mean, summed over its rows, per average call size."""
        mean = self.sums.sum() / self.rows.sum()
        return float(np.std(self.sums - mean * self.rows, ddof=1) / self.rows.mean())


def contributions(features: list[str], ref_sq: Matrix, cur_sq: Matrix) -> list[dict[str, Any]]:
    """Each feature's mean squared residual and share of the total on both sides, the largest
    change first: the features whose relation to the others changed."""
    ref, cur = ref_sq.mean(axis=0), cur_sq.mean(axis=0)
    ref_total, cur_total = float(ref.sum()) or 1.0, float(cur.sum()) or 1.0
    ranked = sorted(zip(features, ref.tolist(), cur.tolist()), key=lambda t: -abs(t[2] - t[1]))
    return [
        {
            "feature": name,
            "reference": r,
            "current": c,
            "change": c - r,
            "reference_share": r / ref_total,
            "current_share": c / cur_total,
        }
        for name, r, c in ranked
    ]


def decide(current: float, spread: Spread, m: int, settings: MultivariateSettings) -> dict[str, Any]:
    """Bounds for the mean error of a window of ``m`` calls, and whether ``current`` is outside them.

    The expected error is the mean of the reference's chunks of ``chunk_calls`` = min(m, N /
    min_chunks) calls (N: the reference's calls). The window's mean varies by the larger of the
    chunks' sd scaled to m calls (sd * sqrt(chunk_calls / m); no scaling when the chunks have the
    window's size, and then it includes the reference's changes over time) and the sampling sd of
    m independent calls (call_sd / sqrt(m): a floor that does not depend on 20 chunks' luck). The
    reference's mean has its own uncertainty (the same two estimates, for all N calls), which
    matters when N is not much larger than m; sd combines both.
    """
    n = len(spread.sums)
    chunk_calls = min(m, n // settings.min_chunks)
    chunks = spread.chunk_means(chunk_calls)
    mean, chunk_sd, call_sd = float(chunks.mean()), float(chunks.std(ddof=1)), spread.call_sd()
    window = max(chunk_sd * math.sqrt(chunk_calls / m), call_sd / math.sqrt(m))
    baseline = max(chunk_sd / math.sqrt(len(chunks)), call_sd / math.sqrt(n))
    sd = math.hypot(window, baseline)
    lo, hi = mean - settings.sigmas * sd, mean + settings.sigmas * sd
    far = abs(current - mean) >= settings.min_change * mean
    return {
        "reference_error": {
            "mean": mean,
            "sd": sd,
            "chunks": len(chunks),
            "chunk_calls": chunk_calls,
            "chunk_sd": chunk_sd,
            "call_sd": call_sd,
        },
        "bounds": [lo, hi],
        "score": (current - mean) / sd if sd > 0 else None,
        "drifted": far and not lo <= current <= hi,
    }


class MultivariateDrift:
    def __init__(self, store: StoreView, settings: MultivariateSettings | None = None) -> None:
        self.store = store
        self.settings = settings or MultivariateSettings()

    # -- queries --------------------------------------------------------------------------

    def _source(self, ref: Reference) -> str:
        db = self.store.database
        base = sql("multivariate_upload", db) if ref.kind == "upload" else sql("multivariate_window", db, tag="0")
        return f"{base}\nUNION ALL\n{sql('multivariate_window', db, tag='1')}"

    @staticmethod
    def _params(model: str, version: str, start_ms: int, end_ms: int, ref: Reference) -> dict[str, Any]:
        """The drift analysis's window and reference parameters, every call kept (per million)."""
        params = DriftAnalyzer.params(model, version, SIDE, start_ms, end_ms, ref)
        return {**params, "keep_0": PER_MILLION, "keep_1": PER_MILLION}

    def _profile(self, params: dict[str, Any], ref: Reference) -> list[dict[str, dict[str, Any]]]:
        """Per side (0: reference, 1: current), each numeric feature's counts and spread."""
        rows = self.store.query(
            sql("multivariate_profile", self.store.database, source=self._source(ref)), params
        ).named_results()
        sides: list[dict[str, dict[str, Any]]] = [{}, {}]
        for row in rows:
            sides[int(row["tag"])][str(row["feature"])] = row
        return sides

    def _sample(self, params: dict[str, Any], ref: Reference, features: list[str]) -> tuple[Sample, Sample]:
        query = sql("multivariate_rows", self.store.database, source=self._source(ref))
        cols = self.store.query(query, {**params, "features": features, "width": len(features)}).result_columns
        if not cols:
            empty = Sample.of(np.empty((0, len(features))), np.empty(0, np.uint64), np.empty(0, np.uint64))
            return empty, empty
        tag = np.asarray(cols[0], dtype=np.uint8)
        call, order = np.asarray(cols[1], dtype=np.uint64), np.asarray(cols[2], dtype=np.uint64)
        x = np.asarray(cols[3], dtype=np.float64).reshape(len(tag), len(features))
        base, now = tag == 0, tag == 1
        return Sample.of(x[base], call[base], order[base]), Sample.of(x[now], call[now], order[now])

    # -- choices --------------------------------------------------------------------------

    def _candidates(self, sides: list[dict[str, dict[str, Any]]]) -> list[str]:
        """Numeric features with present values on both sides and a spread in the reference."""
        ref, cur = sides
        names = [
            f
            for f, p in ref.items()
            if f in cur
            and p["n"] > p["nulls"]
            and cur[f]["n"] > cur[f]["nulls"]
            and math.isfinite(float(p["std"]))
            and float(p["std"]) > 0
        ]
        return sorted(names, key=lambda f: (-int(ref[f]["n"]), f))

    @staticmethod
    def _aligned(names: list[str], ref: dict[str, dict[str, Any]]) -> list[str]:
        """An upload's features whose arrays share the most common length (ties: the longer)."""
        lengths: dict[int, list[str]] = {}
        for f in names:
            lengths.setdefault(int(ref[f]["n"]), []).append(f)
        best = max(lengths.items(), key=lambda kv: (len(kv[1]), kv[0]), default=(0, []))
        return best[1]

    def _keep(self, side: dict[str, dict[str, Any]], features: list[str]) -> int:
        """Calls to keep of every million so that about ``max_rows`` rows come back."""
        rows = max(int(side[f]["n"]) for f in features)
        return min(PER_MILLION, math.ceil(PER_MILLION * self.settings.max_rows / max(rows, 1)))

    def _window_reference(self, model: str, version: str, start_ms: int) -> Reference:
        drift = DriftSettings(
            reference="window", reference_window=self.settings.reference_window, min_samples=self.settings.min_calls
        )
        return DriftAnalyzer(self.store, drift).pick_reference(model, version, start_ms, "window")

    # -- the analysis ---------------------------------------------------------------------

    def analyze(
        self, model: str, version: str, end_ms: int, window_seconds: float, reference: Reference
    ) -> dict[str, Any]:
        """Multivariate drift of one model version's inputs over the window ending at ``end_ms``."""
        started = time.perf_counter()
        start_ms = end_ms - int(window_seconds * 1000)
        result, ref, sides, features = self._prepare(model, version, start_ms, end_ms, reference)
        if features:
            self._measure(result, model, version, start_ms, end_ms, ref, sides, features)
        result["reference"] = ref.describe()
        result["seconds"] = time.perf_counter() - started
        return result

    def _prepare(
        self, model: str, version: str, start_ms: int, end_ms: int, ref: Reference
    ) -> tuple[dict[str, Any], Reference, list[dict[str, dict[str, Any]]], list[str]]:
        """The reference to use, the profile and the features to test (none: the result says why)."""
        result = _untested(model, version, start_ms, end_ms)
        notes: list[str] = []
        sides = self._profile(self._params(model, version, start_ms, end_ms, ref), ref)
        names = self._candidates(sides)
        if ref.kind == "upload":
            aligned = self._aligned(names, sides[0])
            if len(aligned) < 2:
                notes.append(
                    f"the uploaded reference {ref.reference_id} has no two numeric input features of equal length "
                    "(with values in the window), so its rows cannot be rebuilt: compared with the window before"
                )
                ref = self._window_reference(model, version, start_ms)
                sides = self._profile(self._params(model, version, start_ms, end_ms, ref), ref)
                names = self._candidates(sides)
            elif len(aligned) < len(names):
                left_out = sorted(set(names) - set(aligned))
                notes.append(f"left out features whose length differs from the upload's rows: {left_out}")
                names = aligned
        names = sorted(names[: self.settings.max_features])
        result["features"] = names
        if names:
            result["calls"] = {k: max(int(side[f]["calls"]) for f in names) for k, side in zip(SIDES, sides)}
        why = self._untestable(sides, names)
        if why:
            notes.append(why)
            names = []
        result["note"] = "; ".join(notes)
        return result, ref, sides, names

    def _untestable(self, sides: list[dict[str, dict[str, Any]]], names: list[str]) -> str:
        if len(names) < 2:
            return f"needs at least 2 numeric input features with values on both sides, found {len(names)}"
        calls = [max(int(side[f]["calls"]) for f in names) for side in sides]
        return self._too_few(calls[0], calls[1])

    def _too_few(self, ref_calls: int, cur_calls: int, sampled: bool = False) -> str:
        need = max(self.settings.min_calls, self.settings.min_chunks)
        if min(ref_calls, cur_calls) >= need:
            return ""
        what = "sampled calls" if sampled else "calls"
        return f"too few {what}: {ref_calls} in the reference, {cur_calls} in the window; needs {need} on each side"

    def _measure(
        self,
        result: dict[str, Any],
        model: str,
        version: str,
        start_ms: int,
        end_ms: int,
        ref: Reference,
        sides: list[dict[str, dict[str, Any]]],
        features: list[str],
    ) -> None:
        params = self._params(model, version, start_ms, end_ms, ref)
        params["keep_0"], params["keep_1"] = (self._keep(side, features) for side in sides)
        reference, current = self._sample(params, ref, features)
        n, m = reference.calls, current.calls
        result["calls"] = {"reference": n, "current": m}
        result["rows"] = {"reference": len(reference.x), "current": len(current.x)}
        result["sampled"] = {"reference": params["keep_0"] / PER_MILLION, "current": params["keep_1"] / PER_MILLION}
        why = self._too_few(n, m, sampled=True)
        if why:
            result["note"] = "; ".join(filter(None, [result["note"], why]))
            return
        result.update(self._compare(features, reference, current))

    def _compare(self, features: list[str], reference: Sample, current: Sample) -> dict[str, Any]:
        """Cross-fit on the reference, then compare the current window's mean error with the reference's."""
        errors = cross_fit(reference, current, self.settings.variance, self.settings.folds)
        current_error = float(errors.current.mean())
        verdict = decide(current_error, Spread.of(errors.reference, reference), current.calls, self.settings)
        verdict["reference_error"]["row_sd"] = float(errors.reference.std(ddof=1))
        return {
            "tested": True,
            "features": features,
            "components": errors.components,
            "explained_variance": errors.explained,
            "current_error": current_error,
            **verdict,
            "missing": {"reference": _missing(reference.x), "current": _missing(current.x)},
            "contributions": contributions(features, errors.reference_sq, errors.current_sq),
        }


def _missing(x: Matrix) -> float:
    return float(np.isnan(x).mean()) if x.size else 0.0


def _untested(model: str, version: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    return {
        "model": model,
        "version": version,
        "window": {"start_ms": start_ms, "end_ms": end_ms},
        "tested": False,
        "note": "",
        "features": [],
        "components": None,
        "explained_variance": None,
        "reference_error": None,
        "current_error": None,
        "bounds": None,
        "drifted": False,
        "score": None,
        "calls": {"reference": 0, "current": 0},
        "rows": {"reference": 0, "current": 0},
        "sampled": None,
        "missing": None,
        "contributions": [],
    }

"""Latency and error-rate anomalies per model, version and operation.

Reads the per-minute rollup ``ml_latency_minutes`` (calls, errors, t-digest p50/p95/p99) and
walks each series minute by minute:

* the baseline of a minute is the robust centre and spread (median, MAD) of earlier *normal*
  minutes: the last ``baseline_seconds`` or, once ``season_days`` of history exist, the same
  time of day on earlier days. Minutes that were anomalous never enter a baseline, so an
  incident does not teach the detector that it is normal;
* a version with too little history of its own is compared with the model's other traffic
  (a new version against the one it replaces);
* latency is scored on the log scale, z = (log x - median) / scale, with a floor on the scale
  so that a very steady series needs at least ``min_relative`` growth; errors are scored with
  a binomial tail against the baseline error rate;
* hysteresis: an episode opens after ``open_after`` anomalous minutes in a row and resolves
  after ``close_after`` normal minutes in a row, so one incident is one finding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..storage.store import Store
from .sqlfiles import sql

MINUTE_MS = 60_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class LatencySettings:
    baseline_seconds: float = 6 * 3600
    evaluate_seconds: float = 2 * 3600
    season_days: int = 7
    min_calls: int = 5
    min_history: int = 30
    z_open: float = 5.0
    z_close: float = 2.5
    open_after: int = 2
    close_after: int = 5
    min_relative: float = 0.2
    min_delta_ms: float = 1.0
    error_p: float = 1e-6
    error_min_rate: float = 0.02


@dataclass
class Series:
    model: str
    version: str
    operation: str
    minute_ms: np.ndarray
    calls: np.ndarray
    errors: np.ndarray
    q: np.ndarray  # minutes x 3 (p50, p95, p99) in ms


@dataclass
class Episode:
    kind: str  # latency | error_rate
    start_ms: int
    end_ms: int
    opened_ms: int
    resolved_ms: int | None = None
    peak: float = 0.0
    minutes: list[int] = field(default_factory=list)
    baseline: dict[str, float] = field(default_factory=dict)
    observed: dict[str, float] = field(default_factory=dict)
    metric: str = ""


METRICS = ("p50", "p95", "p99")


def load_series(
    store: Store, start_ms: int, end_ms: int, model: str = "", operation: str = "", pool_without: str | None = None
) -> dict[tuple[str, str, str], Series]:
    """Per-minute series per (model, version, operation); with ``pool_without`` the versions
    other than that one are pooled into one series per (model, operation) with version ''."""
    pooled = pool_without is not None
    rows = store.query(
        sql("latency_minutes", store.database, version="''" if pooled else "ModelVersion"),
        {
            "start": start_ms,
            "end": end_ms,
            "model": model,
            "operation": operation,
            "pooled": int(pooled),
            "exclude": pool_without or "",
        },
    ).result_rows
    grouped: dict[tuple[str, str, str], list[Any]] = {}
    for r in rows:
        grouped.setdefault((r[0], r[1], r[2]), []).append(r)
    out = {}
    for key, rs in grouped.items():
        out[key] = Series(
            *key,
            minute_ms=np.array([r[3] for r in rs], dtype=np.int64),
            calls=np.array([r[4] for r in rs], dtype=np.float64),
            errors=np.array([r[5] for r in rs], dtype=np.float64),
            q=np.array([[v / 1e6 for v in r[6]] for r in rs], dtype=np.float64).reshape(-1, 3),
        )
    return out


def load_pool(store: Store, start_ms: int, end_ms: int, model: str, operation: str, exclude: str) -> Series | None:
    """The model's traffic for ``operation`` with every version but ``exclude`` pooled."""
    return load_series(store, start_ms, end_ms, model, operation, pool_without=exclude).get((model, "", operation))


class LatencyDetector:
    def __init__(self, settings: LatencySettings) -> None:
        self.s = settings

    def _baseline_idx(self, walk: _Walk, t: int) -> np.ndarray:
        """Indices of the normal minutes before ``t`` that form its baseline."""
        minutes = walk.minutes
        if not len(minutes):
            return np.array([], dtype=np.int64)
        earlier = (minutes < t) & walk.normal & walk.ok
        if (t - minutes[0]) / DAY_MS >= 2:
            # same time of day (within 30 minutes) on each earlier day
            offset = (t - minutes) % DAY_MS
            seasonal = (
                earlier
                & ((offset < 30 * MINUTE_MS) | (offset > DAY_MS - 30 * MINUTE_MS))
                & (t - minutes >= DAY_MS - 30 * MINUTE_MS)
            )
            if seasonal.sum() >= self.s.min_history:
                return np.flatnonzero(seasonal)
        recent = earlier & (minutes >= t - self.s.baseline_seconds * 1000)
        return np.flatnonzero(recent)

    def detect(self, series: Series, pool: Series | None, eval_from_ms: int, at_ms: int) -> list[Episode]:
        """Episodes of ``series`` that are ongoing at ``at_ms`` or ended after ``eval_from_ms``.

        ``pool`` is the model's other traffic (same operation, other versions), used as the
        baseline while this version has fewer than ``min_history`` normal minutes.
        """
        s = self.s
        own = _Walk(series, s)
        other = _Walk(pool, s) if pool is not None else None
        episodes: list[Episode] = []
        state: dict[str, Any] = {"latency": None, "error_rate": None}
        run: dict[str, list[int]] = {"latency": [], "error_rate": []}
        quiet: dict[str, int] = {"latency": 0, "error_rate": 0}
        n = len(series.minute_ms)
        for i in range(n):
            if series.calls[i] < s.min_calls:
                continue  # too few calls to say anything: neither counts nor breaks a run
            t = int(series.minute_ms[i])
            base = self._baseline_idx(own, t)
            source = own
            if len(base) < s.min_history and other is not None:
                idx = self._baseline_idx(other, t)
                if len(idx) >= s.min_history:
                    base, source = idx, other
            if len(base) < s.min_history:
                own.normal[i] = True  # warm-up: nothing to compare with yet
                continue
            verdicts = {
                "latency": self._latency(series, i, source, base),
                "error_rate": self._errors(series, i, source, base),
            }
            anomalous_any = False
            for kind, (verdict, z, detail) in verdicts.items():
                ep = state[kind]
                if verdict == "anomalous":
                    anomalous_any = True
                    quiet[kind] = 0
                    if ep is None:
                        run[kind].append(i)
                        if len(run[kind]) >= s.open_after:
                            first = run[kind][0]
                            ep = Episode(
                                kind,
                                int(series.minute_ms[first]),
                                int(series.minute_ms[i]) + MINUTE_MS,
                                opened_ms=int(series.minute_ms[i]) + MINUTE_MS,
                                minutes=list(run[kind]),
                                baseline=detail["baseline"],
                            )
                            state[kind] = ep
                            episodes.append(ep)
                    else:
                        ep.end_ms = int(series.minute_ms[i]) + MINUTE_MS
                        ep.minutes.append(i)
                    if ep is not None and z > ep.peak:
                        ep.peak, ep.metric = z, detail["metric"]
                elif verdict == "normal":
                    run[kind] = []
                    if ep is not None:
                        quiet[kind] += 1
                        if quiet[kind] >= s.close_after:
                            ep.resolved_ms = int(series.minute_ms[i]) + MINUTE_MS
                            state[kind] = None
                            quiet[kind] = 0
                else:  # in between: keeps an open episode open, does not start one
                    run[kind] = []
                    if ep is not None:
                        quiet[kind] = 0
            in_episode = any(state[k] is not None for k in state)
            own.normal[i] = not anomalous_any and not in_episode
        # Traffic that stops ends an episode too: nothing is slow or failing any more.
        active = series.minute_ms[series.calls >= s.min_calls]
        quiet_from = int(active[-1]) + MINUTE_MS if len(active) else 0
        for ep in episodes:
            if ep.resolved_ms is None and at_ms - quiet_from >= s.close_after * MINUTE_MS:
                ep.resolved_ms = quiet_from + s.close_after * MINUTE_MS
        for ep in episodes:
            idx = np.array(ep.minutes)
            calls = series.calls[idx]
            ep.observed = {
                "calls": float(calls.sum()),
                "error_rate": float(series.errors[idx].sum() / max(calls.sum(), 1)),
                **{m: float(np.median(series.q[idx, j])) for j, m in enumerate(METRICS)},
            }
        return [ep for ep in episodes if ep.resolved_ms is None or ep.resolved_ms > eval_from_ms]

    def _latency(self, series: Series, i: int, source: _Walk, base: np.ndarray) -> tuple[str, float, dict[str, Any]]:
        s = self.s
        floor = math.log1p(s.min_relative) / s.z_open
        best_z, best_metric = -math.inf, "p95"
        all_quiet = True
        baseline = {}
        for j, metric in enumerate(METRICS):
            if metric == "p99" and series.calls[i] < 20:
                continue
            hist = source.logq[base, j]
            med = float(np.median(hist))
            mad = float(np.median(np.abs(hist - med)))
            scale = max(1.4826 * mad, floor)
            x = series.q[i, j]
            z = (math.log(max(x, 1e-6)) - med) / scale
            delta = x - math.exp(med)
            baseline[metric] = math.exp(med)
            if delta < s.min_delta_ms:
                z = min(z, 0.0)
            if z > best_z:
                best_z, best_metric = z, metric
            if z >= s.z_close:
                all_quiet = False
        detail = {"metric": best_metric, "baseline": baseline}
        if best_z >= s.z_open:
            return "anomalous", best_z, detail
        return ("normal" if all_quiet else "between"), best_z, detail

    def _errors(self, series: Series, i: int, source: _Walk, base: np.ndarray) -> tuple[str, float, dict[str, Any]]:
        from scipy import stats

        s = self.s
        calls, errors = series.calls[i], series.errors[i]
        p0 = (source.errors[base].sum() + 0.5) / (source.calls[base].sum() + 1.0)
        rate = errors / calls
        tail = float(stats.binom.sf(errors - 1, calls, p0)) if errors > 0 else 1.0
        z = -math.log10(max(tail, 1e-300))
        detail = {"metric": "error_rate", "baseline": {"error_rate": float(p0)}}
        if errors >= 3 and tail < s.error_p and rate >= p0 + s.error_min_rate:
            return "anomalous", z, detail
        if tail > 1e-3 or rate < p0 + s.error_min_rate / 2:
            return "normal", z, detail
        return "between", z, detail


class _Walk:
    """A series with its per-minute "normal" flags, filled in as the detector walks it."""

    def __init__(self, series: Series, s: LatencySettings) -> None:
        self.minutes = series.minute_ms
        self.calls = series.calls
        self.errors = series.errors
        self.logq = np.log(np.maximum(series.q, 1e-6))
        self.ok = series.calls >= s.min_calls
        # a pooled series is taken as it is: its minutes count as normal unless its own walk says otherwise
        self.normal = np.ones(len(series.minute_ms), dtype=bool)

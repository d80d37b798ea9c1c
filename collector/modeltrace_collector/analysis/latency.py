"""Latency and error-rate anomalies per model, version and operation.

Reads the per-minute rollup ``ml_latency_minutes`` (calls, errors, t-digest p50/p95/p99) and
walks each series minute by minute:

* the baseline of a minute is the robust centre and spread (median, MAD) of earlier *normal*
  minutes in the last ``baseline_seconds`` (or the last normal minutes before an incident
  longer than that). Minutes that were anomalous never enter it, so an incident does not teach
  the detector that it is normal;
* once three days of history exist, the baseline is the same time of day on each of up to
  ``season_days`` earlier days instead: a busy hour that comes back every day is learnt;
* a version with too little history of its own is compared with the model's other traffic
  (a new version against the one it replaces);
* latency is scored on the log scale, z = (log x - median) / scale, with a floor on the scale
  so that a very steady series needs at least ``min_relative`` growth; errors are scored with
  a binomial tail against the baseline error rate, over the last ``error_window`` minutes
  and over five times as many (a weak burst);
* hysteresis: an episode opens after ``open_after`` anomalous minutes in a row and resolves
  after ``close_after`` normal minutes in a row, so one incident is one finding.

What else a series can do, and what it gets:

* a spike: one minute (of 10 calls or more) at least ``spike_z`` out and ``spike_min_ratio``
  times its baseline (or ``z_open`` out and twice that ratio, in a noisy series) opens a latency
  episode at once, unless the baseline span already had three minutes as high (a recurring blip
  is the series' pattern), marked as a spike (a lower severity); it closes after three times
  the usual quiet minutes, so a burst of spikes is one finding, not a flapping one. If it goes
  on, it is an ordinary episode;
* recurring blips: when the baseline span holds three or more short excursions (5 minutes or
  less) at least as high, a new one opens a latency episode only once it lasts longer than the
  longest of them (a cache refresh every half hour is the series' pattern, an incident is not);
* a level shift: an episode (latency, latency drop, traffic drop) whose level holds for
  ``accept_after`` is resolved as "new level accepted" and its minutes become the baseline;
* a further rise during a latency episode (p95 or p99 ``z_open`` above the episode's own level
  for ``open_after`` minutes) is recorded on it as an escalation: the finding's severity rises and
  its causes are sought again in the rise's first minutes;
* an episode that opens again within three times ``close_after`` of the last one of its kind
  closing is intermittent: it closes only after three times ``close_after`` quiet minutes;
* a drop: p50 ``z_open`` below its baseline for ``open_after`` minutes is a latency_drop (a
  model that answers too fast may be skipping its work);
* traffic: the model's calls per minute (all versions pooled, silent minutes counted as zero)
  falling below ``traffic_drop`` of the last half hour's usual, far beyond Poisson noise, for
  ``open_after`` minutes is a traffic_drop, unless the baseline span already had three drops
  about as deep and at least as long (a job that runs on and off): then only a longer one opens.
"""

from __future__ import annotations

import copy
import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import AnomalyConfig
from ..storage.store import StoreView
from .sqlfiles import sql

_DEFAULTS = AnomalyConfig()

MINUTE_MS = 60_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class LatencySettings:
    """[anomaly] as the detector uses it (minutes as counts); the configurable defaults are the
    config's (config.AnomalyConfig)."""

    baseline_seconds: float = _DEFAULTS.baseline_seconds
    evaluate_seconds: float = _DEFAULTS.evaluate_seconds
    season_days: int = _DEFAULTS.season_days
    min_calls: int = _DEFAULTS.min_calls
    min_history: int = _DEFAULTS.min_history_minutes
    z_open: float = _DEFAULTS.z_open
    z_close: float = _DEFAULTS.z_close
    open_after: int = _DEFAULTS.open_after_minutes
    close_after: int = _DEFAULTS.close_after_minutes
    min_relative: float = _DEFAULTS.min_relative
    min_delta_ms: float = 1.0
    error_p: float = 1e-6
    error_min_rate: float = 0.02
    error_window: int = _DEFAULTS.error_window_minutes
    accept_after: int = round(_DEFAULTS.accept_after_seconds / 60)
    spike_z: float = _DEFAULTS.spike_z
    spike_min_ratio: float = _DEFAULTS.spike_min_ratio
    traffic_drop: float = _DEFAULTS.traffic_drop

    @classmethod
    def of(cls, config: AnomalyConfig) -> LatencySettings:
        return cls(
            baseline_seconds=config.baseline_seconds,
            evaluate_seconds=config.evaluate_seconds,
            season_days=config.season_days,
            min_calls=config.min_calls,
            min_history=config.min_history_minutes,
            z_open=config.z_open,
            z_close=config.z_close,
            open_after=config.open_after_minutes,
            close_after=config.close_after_minutes,
            min_relative=config.min_relative,
            error_window=config.error_window_minutes,
            accept_after=max(1, round(config.accept_after_seconds / 60)),
            spike_z=config.spike_z,
            spike_min_ratio=config.spike_min_ratio,
            traffic_drop=config.traffic_drop,
        )


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
    minutes: list[int] = field(default_factory=list)  # the anomalous minutes (ms)
    baseline: dict[str, float] = field(default_factory=dict)
    observed: dict[str, float] = field(default_factory=dict)
    metric: str = ""
    resolution: str = ""  # how it ended: "" (back to normal) | accepted (a new level)
    spike: bool = False  # opened by one severe minute, and no more than that so far
    # per metric, the log values of its first minutes (its level), and the current run above it
    levels: dict[str, list[float]] = field(default_factory=dict)
    rise: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)

    def level_since(self) -> int:
        """When its current level began: its start, or its latest rise."""
        return int(self.escalations[-1]["start_ms"]) if self.escalations else self.start_ms


METRICS = ("p50", "p95", "p99")
VERSION_KINDS = ("latency", "latency_drop", "error_rate")  # judged per model version
POOLED_KINDS = ("traffic_drop",)  # judged on a model's whole traffic
KINDS = VERSION_KINDS + POOLED_KINDS
ACCEPTED = ("latency", "latency_drop", "traffic_drop")  # a level that holds becomes the new normal
LEVEL_MINUTES = 5  # an episode's level: the median of its first minutes
RISE_METRICS = ("p95", "p99")  # a further rise is judged on these
SPIKE_QUIET = 3  # a spike closes after this many times close_after normal minutes
SPIKE_MIN_CALLS = 10  # one minute alone says something only with this many calls
SPIKE_RECURRING = 3  # this many minutes as high in the baseline span: a recurring blip, not a spike
SPIKE_LIKE = math.log(1.25)  # "as high": within 25% below the minute's level
BLIP_MINUTES = 5  # an excursion this short is a blip
BLIP_RECURRING = 3  # this many blips as high in the baseline span make blips the series' pattern
DROP_LIKE = 0.75  # a traffic drop "about as deep" as an earlier one: its z at least this share
TRAFFIC_MIN_EXPECTED = 10.0  # fewer calls a minute than this: a drop cannot be told from chance
TRAFFIC_P = 1e-3  # the Poisson tail a drop must be beyond
# How far (robust z, log scale) below the usual a minute's calls must fall: the Poisson tail and the
# drop share (anomaly.traffic_drop, the z's floor) decide whether a drop is real and large enough;
# this only keeps traffic whose minutes vary far beyond Poisson (bursts, batch jobs) out. z_open
# (5) missed a steady model losing three quarters of its calls (24 a minute, 7 left: z 4.4).
TRAFFIC_Z = 3.0
MAX_CHECKPOINTS = 10_000
LONG_ERROR_WINDOWS = 5  # the long error window, in short ones
SEASON_MIN_DAYS = 3  # earlier days needed before the baseline follows the time of day


def load_series(
    store: StoreView, start_ms: int, end_ms: int, model: str = "", operation: str = "", pool_without: str | None = None
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


def pooled_traffic(
    series: dict[tuple[str, str, str], Series], end_ms: int, start_ms: int = 0
) -> dict[tuple[str, str, str], Series]:
    """Calls per minute per (model, operation), all versions summed, with every minute from the
    first call (or ``start_ms``) to ``end_ms`` (exclusive) present: a silent minute is a zero."""
    grouped: dict[tuple[str, str], list[Series]] = {}
    for (model, _, operation), ser in series.items():
        if len(ser.minute_ms) and ser.minute_ms[-1] >= start_ms:
            grouped.setdefault((model, operation), []).append(ser)
    out = {}
    for (model, operation), parts in grouped.items():
        first = max(min(int(p.minute_ms[0]) for p in parts), start_ms - start_ms % MINUTE_MS)
        minutes = np.arange(first, max(end_ms, first), MINUTE_MS, dtype=np.int64)
        calls = np.zeros(len(minutes))
        errors = np.zeros(len(minutes))
        for p in parts:
            idx = (p.minute_ms - first) // MINUTE_MS
            keep = (idx >= 0) & (idx < len(minutes))
            np.add.at(calls, idx[keep], p.calls[keep])
            np.add.at(errors, idx[keep], p.errors[keep])
        out[(model, "", operation)] = Series(model, "", operation, minutes, calls, errors, np.ones((len(minutes), 3)))
    return out


def load_pool(store: StoreView, start_ms: int, end_ms: int, model: str, operation: str, exclude: str) -> Series | None:
    """The model's traffic for ``operation`` with every version but ``exclude`` pooled."""
    return load_series(store, start_ms, end_ms, model, operation, pool_without=exclude).get((model, "", operation))


class LatencyDetector:
    def __init__(self, settings: LatencySettings) -> None:
        self.s = settings
        self._checkpoints: dict[tuple[str, str, str, tuple[str, ...]], _Checkpoint] = {}
        self._lock = threading.Lock()  # the scheduler and API requests walk series at once

    def _baseline_idx(self, walk: _Walk, t: int, since: int = 0, recent_only: bool = False) -> np.ndarray:
        """Indices of the normal minutes before ``t`` (and from ``since``, when a new level was
        accepted) that form its baseline; ``recent_only``: the last ``min_history`` of them."""
        minutes = walk.minutes
        if not len(minutes):
            return np.array([], dtype=np.int64)
        first = max(int(minutes[0]), since)
        usable = walk.usable
        if recent_only:
            lo, hi = np.searchsorted(minutes, [since, t])
            last: np.ndarray[Any, np.dtype[Any]] = lo + np.flatnonzero(usable[lo:hi])[-self.s.min_history :]
            return last
        half_hour = 30 * MINUTE_MS
        if self.s.season_days >= SEASON_MIN_DAYS and t - first >= SEASON_MIN_DAYS * DAY_MS:
            # The same time of day (within half an hour) on each of the earlier days. These
            # minutes count whatever they were flagged: a slow hour that comes back every day
            # is flagged on the first days, and is the pattern to learn; a one-off incident on
            # one of three or more days moves the median little.
            centres = t - DAY_MS * np.arange(1, self.s.season_days + 1)
            lo = np.searchsorted(minutes, np.maximum(centres - half_hour, since - 1), side="right")
            hi = np.searchsorted(minutes, centres + half_hour, side="left")
            seasonal = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)])
            kept: np.ndarray[Any, np.dtype[Any]] = seasonal[walk.ok[seasonal]]
            if len(kept) >= self.s.min_history:
                return kept
        lo, hi = np.searchsorted(minutes, [max(t - self.s.baseline_seconds * 1000, since), t])
        recent = np.arange(lo, hi)
        recent = recent[usable[recent]]
        if len(recent) < self.s.min_history:
            # an incident longer than the baseline span: the normal minutes before it still count
            start = int(np.searchsorted(minutes, since))
            recent = start + np.flatnonzero(usable[start:hi])[-self.s.min_history :]
        return recent

    def detect(
        self,
        series: Series,
        pool: Series | None,
        eval_from_ms: int,
        at_ms: int,
        resume: bool = True,
        kinds: tuple[str, ...] = VERSION_KINDS,
    ) -> list[Episode]:
        """Episodes of ``series`` that are ongoing at ``at_ms`` or ended after ``eval_from_ms``.

        ``pool`` is the model's other traffic (same operation, other versions), used as the
        baseline while this version has fewer than ``min_history`` normal minutes. ``kinds``:
        VERSION_KINDS for one version's series, POOLED_KINDS for a model's whole traffic (from
        ``pooled_traffic``).

        The walk over the history before ``eval_from_ms`` is kept (the normal flags and the
        hysteresis state), so the next run over the same series starts from there instead of
        from the start of its history: with a week of seasonal history that is the difference
        between about a second and a few milliseconds per series.
        """
        s = self.s
        key = (series.model, series.version, series.operation, kinds)
        traffic = kinds == POOLED_KINDS
        own = _Walk(series, s, every_minute=traffic)
        other = _Walk(pool, s) if pool is not None else None
        with self._lock:
            cp = self._checkpoints.get(key) if resume else None
        if cp is not None and len(series.minute_ms) and series.minute_ms[0] <= cp.minute_ms <= eval_from_ms:
            st = cp.restore(own)
        else:
            st = _State(kinds=kinds)
        n = len(series.minute_ms)
        saved = False
        for i in range(st.next_index(series), n):
            t = int(series.minute_ms[i])
            if not saved and t >= eval_from_ms:
                self._save(key, _Checkpoint.take(t, own, st))
                saved = True
            if not traffic and series.calls[i] < s.min_calls:
                continue  # too few calls to say anything: neither counts nor breaks a run
            base = self._baseline_idx(own, t, st.since_ms, recent_only=traffic)
            source = own
            if len(base) < s.min_history and other is not None:
                idx = self._baseline_idx(other, t)
                if len(idx) >= s.min_history:
                    base, source = idx, other
            if len(base) < s.min_history:
                own.normal[i] = not st.in_episode()  # warm-up: nothing to compare with yet
                continue
            anomalous_any = False
            for kind, (verdict, z, detail) in self._verdicts(series, i, own, source, base, kinds).items():
                anomalous_any |= st.step(kind, verdict, z, detail, t, s)
            if st.accepted_from is not None:  # a level that held: it is the baseline from now on
                lo = int(np.searchsorted(series.minute_ms, st.accepted_from))
                own.normal[lo : i + 1] = True
                st.since_ms, st.accepted_from = st.accepted_from, None
            own.normal[i] = not anomalous_any and not st.in_episode()
        if not saved and n:
            self._save(key, _Checkpoint.take(int(series.minute_ms[-1]) + MINUTE_MS, own, st))
        return self._report(series, st.episodes, eval_from_ms, at_ms)

    def _verdicts(
        self, series: Series, i: int, own: _Walk, source: _Walk, base: np.ndarray, kinds: tuple[str, ...]
    ) -> dict[str, tuple[str, float, dict[str, Any]]]:
        if kinds == POOLED_KINDS:
            return {"traffic_drop": self._traffic(series, i, source, base)}
        levels = self._levels(series, i, source, base)
        return {
            "latency": self._latency(series, i, levels, self._recurring(own, i, levels)),
            "latency_drop": self._drop(series, i, levels),
            "error_rate": self._errors(series, i, source, base),
        }

    def _report(self, series: Series, episodes: list[Episode], eval_from_ms: int, at_ms: int) -> list[Episode]:
        """The episodes ongoing at ``at_ms`` or ended after ``eval_from_ms``, with what was observed in them."""
        s = self.s
        n = len(series.minute_ms)
        # Traffic that stops ends an episode too: nothing is slow or failing any more.
        active = series.minute_ms[series.calls >= s.min_calls]
        quiet_from = int(active[-1]) + MINUTE_MS if len(active) else 0
        out = []
        for ep in episodes:
            stopped = ep.kind != "traffic_drop" and at_ms - quiet_from >= s.close_after * MINUTE_MS
            if ep.resolved_ms is None and stopped:
                ep.resolved_ms = quiet_from + s.close_after * MINUTE_MS
            if ep.resolved_ms is not None and ep.resolved_ms <= eval_from_ms:
                continue
            idx = np.searchsorted(series.minute_ms, ep.minutes)
            idx = idx[(idx < n) & (series.minute_ms[np.minimum(idx, n - 1)] == ep.minutes)]
            calls = series.calls[idx]
            ep.observed = {
                "calls": float(calls.sum()),
                "calls_per_minute": float(np.median(calls)) if len(calls) else 0.0,
                "error_rate": float(series.errors[idx].sum() / max(calls.sum(), 1)),
                **{m: float(np.median(series.q[idx, j])) for j, m in enumerate(METRICS)},
            }
            out.append(ep)
        return out

    def _save(self, key: tuple[str, str, str, tuple[str, ...]], cp: _Checkpoint) -> None:
        with self._lock:
            self._checkpoints.pop(key, None)
            self._checkpoints[key] = cp
            while len(self._checkpoints) > MAX_CHECKPOINTS:  # the series least recently walked go first
                self._checkpoints.pop(next(iter(self._checkpoints)))

    def _levels(self, series: Series, i: int, source: _Walk, base: np.ndarray) -> dict[str, tuple[float, float, float]]:
        """Per metric of minute ``i``: its log value, the baseline's log centre and its scale
        (a robust spread, with a floor so that a very steady series needs ``min_relative``)."""
        floor = math.log1p(self.s.min_relative) / self.s.z_open
        hist = source.logq[base]
        centre = np.median(hist, axis=0)
        spread = np.median(np.abs(hist - centre), axis=0)
        out = {}
        for j, metric in enumerate(METRICS):
            if metric == "p99" and series.calls[i] < 20:
                continue
            out[metric] = (math.log(max(series.q[i, j], 1e-6)), float(centre[j]), max(1.4826 * float(spread[j]), floor))
        return out

    def _recurring(self, own: _Walk, i: int, levels: dict[str, tuple[float, float, float]]) -> dict[str, int]:
        """Per metric: the earlier minutes of the baseline span (whatever their flags) at least
        about as high as minute ``i``."""
        lo = int(np.searchsorted(own.minutes, int(own.minutes[i]) - self.s.baseline_seconds * 1000))
        span = own.logq[lo:i]
        return {m: int((span[:, j] >= levels[m][0] - SPIKE_LIKE).sum()) for j, m in enumerate(METRICS) if m in levels}

    def _latency(
        self, series: Series, i: int, levels: dict[str, tuple[float, float, float]], recurring: dict[str, int]
    ) -> tuple[str, float, dict[str, Any]]:
        s = self.s
        best_z, best_metric = -math.inf, "p95"
        all_quiet = True
        for metric, (x, med, scale) in levels.items():
            z = (x - med) / scale
            if math.exp(x) - math.exp(med) < s.min_delta_ms:
                z = min(z, 0.0)
            if z > best_z:
                best_z, best_metric = z, metric
            if z >= s.z_close:
                all_quiet = False
        detail = {
            "metric": best_metric,
            "baseline": {m: math.exp(med) for m, (_, med, _) in levels.items()},
            "levels": levels,
            "ratio": math.exp(levels[best_metric][0] - levels[best_metric][1]),
            "calls": float(series.calls[i]),
            "recurring": recurring.get(best_metric, 0),
        }
        if best_z >= s.z_open:
            return "anomalous", best_z, detail
        return ("normal" if all_quiet else "between"), best_z, detail

    def _drop(
        self, series: Series, i: int, levels: dict[str, tuple[float, float, float]]
    ) -> tuple[str, float, dict[str, Any]]:
        """The typical call (p50) far faster than its baseline."""
        x, med, scale = levels["p50"]
        z = (med - x) / scale
        if math.exp(med) - math.exp(x) < self.s.min_delta_ms:
            z = min(z, 0.0)
        detail = {"metric": "p50", "baseline": {"p50": math.exp(med)}}
        if z >= self.s.z_open:
            return "anomalous", z, detail
        return ("normal" if z < self.s.z_close else "between"), z, detail

    def _traffic(self, series: Series, i: int, source: _Walk, base: np.ndarray) -> tuple[str, float, dict[str, Any]]:
        """Calls this minute against the usual of the last normal half hour: a log-scale z (with a
        floor of the configured drop share) and the Poisson tail of so few calls."""
        from scipy import stats

        s = self.s
        usual = source.calls[base]
        expected = float(np.median(usual))
        detail = {"metric": "calls_per_minute", "baseline": {"calls_per_minute": expected}}
        if expected < TRAFFIC_MIN_EXPECTED:
            return "normal", 0.0, detail
        logs = np.log1p(usual)
        centre = float(np.median(logs))
        floor = -math.log1p(-min(s.traffic_drop, 0.999)) / TRAFFIC_Z
        scale = max(1.4826 * float(np.median(np.abs(logs - centre))), floor)
        z = (centre - math.log1p(series.calls[i])) / scale
        if z >= TRAFFIC_Z and float(stats.poisson.cdf(series.calls[i], expected)) < TRAFFIC_P:
            return "anomalous", z, detail
        return ("normal" if z < s.z_close else "between"), z, detail

    def _errors(self, series: Series, i: int, source: _Walk, base: np.ndarray) -> tuple[str, float, dict[str, Any]]:
        """Errors of the last ``error_window`` minutes, and of five times as many: at low traffic
        a burst gives a few errors a minute, too few for any one minute to prove anything, and a
        weak one needs the longer window. The short window counts while this minute has errors,
        the long one while the short one has any (a weak burst gives none in many minutes);
        the short one alone closes."""
        from scipy import stats

        s = self.s
        p0 = (source.errors[base].sum() + 0.5) / (source.calls[base].sum() + 1.0)
        detail = {"metric": "error_rate", "baseline": {"error_rate": float(p0)}, "failing": bool(series.errors[i] > 0)}
        verdicts: list[Any] = []
        for minutes in (s.error_window, LONG_ERROR_WINDOWS * s.error_window):
            lo = np.searchsorted(series.minute_ms, series.minute_ms[i] - minutes * MINUTE_MS, side="right")
            calls, errors = series.calls[lo : i + 1].sum(), series.errors[lo : i + 1].sum()
            rate = errors / calls
            tail = float(stats.binom.sf(errors - 1, calls, p0)) if errors > 0 else 1.0
            z = -math.log10(max(tail, 1e-300))
            # still failing: this minute (short window), or the last few minutes (long window)
            ongoing = series.errors[i] > 0 if not verdicts else verdicts[0][3] > 0
            if errors >= 3 and ongoing and tail < s.error_p and rate >= p0 + s.error_min_rate:
                return "anomalous", z, detail
            verdicts.append((tail, rate, z, errors))
        tail, rate, z, _ = verdicts[0]
        if tail > 1e-3 or rate < p0 + s.error_min_rate / 2:
            return "normal", z, detail
        return "between", z, detail


class _Walk:
    """A series with its per-minute "normal" flags, filled in as the detector walks it."""

    def __init__(self, series: Series, s: LatencySettings, every_minute: bool = False) -> None:
        self.minutes = series.minute_ms
        self.calls = series.calls
        self.errors = series.errors
        self.logq = np.log(np.maximum(series.q, 1e-6))
        # every_minute: a traffic series, where a quiet minute is as much a sample as a busy one
        self.ok = np.ones(len(series.calls), dtype=bool) if every_minute else series.calls >= s.min_calls
        # a pooled series is taken as it is: its minutes count as normal unless its own walk says otherwise
        self.normal = np.ones(len(series.minute_ms), dtype=bool)

    @property
    def usable(self) -> np.ndarray:
        return self.normal & self.ok


@dataclass
class _State:
    """Hysteresis state of a walk: the open episode and the current runs per kind."""

    kinds: tuple[str, ...] = VERSION_KINDS
    episodes: list[Episode] = field(default_factory=list)
    open: dict[str, Episode | None] = field(default_factory=lambda: dict.fromkeys(KINDS))
    run: dict[str, list[int]] = field(default_factory=lambda: {k: [] for k in KINDS})
    quiet: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    resume_ms: int = 0  # the first minute not yet walked
    since_ms: int = 0  # the baseline starts here: when the latest accepted level began
    accepted_from: int | None = None  # set by step when a level is accepted, for the walk to apply
    # latency excursions (anomalous minutes in a row), open or not: the current one's length and
    # highest log level, and the short ones that ended as (end ms, minutes, highest log level)
    excursion: list[float] = field(default_factory=list)
    blips: list[tuple[int, int, float]] = field(default_factory=list)
    # when each kind's last episode closed; one that opens again soon after is intermittent and
    # closes only after SPIKE_QUIET times close_after quiet minutes, so bursts are one episode each
    # time they recur in short order rather than one finding per burst
    closed: dict[str, int] = field(default_factory=dict)
    intermittent: set[str] = field(default_factory=set)
    # traffic drops (anomalous minutes in a row), of any length: the current one's z values, and
    # those that ended as (end ms, minutes, deepest z): a batch job's idle stretches recur
    drop: list[float] = field(default_factory=list)
    drops: list[tuple[int, int, float]] = field(default_factory=list)

    def next_index(self, series: Series) -> int:
        return int(np.searchsorted(series.minute_ms, self.resume_ms, side="left"))

    def in_episode(self) -> bool:
        return any(ep is not None for ep in self.open.values())

    def step(self, kind: str, verdict: str, z: float, detail: dict[str, Any], t: int, s: LatencySettings) -> bool:
        """One minute's verdict for one kind; True when it is anomalous."""
        if kind == "latency":
            self._excursion(verdict, detail, t, s)
        elif kind == "traffic_drop":
            self._drop(verdict, z, t, s)
        ep = self.open[kind]
        if verdict == "anomalous" and not detail.get("failing", True):
            # the error rate of the window is still high, but nothing failed this minute: the
            # minute neither extends the episode's window nor breaks a run that may open one
            self.quiet[kind] = 0
            return True
        if verdict == "anomalous":
            self._anomalous(kind, ep, z, detail, t, s)
            return True
        self.run[kind] = []
        if ep is not None and kind == "latency":
            ep.rise = []
        if verdict == "normal":
            if ep is not None:
                self.quiet[kind] += 1
                patient = ep.spike or kind in self.intermittent
                if self.quiet[kind] >= s.close_after * (SPIKE_QUIET if patient else 1):
                    ep.resolved_ms = t + MINUTE_MS
                    self.open[kind] = None
                    self.quiet[kind] = 0
                    self.closed[kind] = t + MINUTE_MS
                    self.intermittent.discard(kind)
        elif ep is not None:  # in between: keeps an open episode open, does not start one
            self.quiet[kind] = 0
            self._accept_if_held(kind, ep, t, s)
        return False

    def _anomalous(
        self, kind: str, ep: Episode | None, z: float, detail: dict[str, Any], t: int, s: LatencySettings
    ) -> None:
        self.quiet[kind] = 0
        if ep is None:
            self.run[kind].append(t)
            spike = kind == "latency" and _spike(z, detail, s)
            recurring = self._like_recent_blips(kind, t, s) or (
                kind == "traffic_drop" and self._like_recent_drops(t, s)
            )
            if not spike and (len(self.run[kind]) < s.open_after or recurring):
                return
            ep = self._open(kind, t, detail, spike=len(self.run[kind]) < s.open_after, s=s)
        else:
            ep.end_ms = t + MINUTE_MS
            ep.minutes.append(t)
            # a spike that lasts (open_after minutes in a row) is an ordinary episode
            run = ep.minutes[-s.open_after :]
            ep.spike = ep.spike and not (
                len(run) == s.open_after and run[-1] - run[0] == (s.open_after - 1) * MINUTE_MS
            )
            if kind == "latency":
                _follow_level(ep, t, detail, s)
        if z > ep.peak:
            ep.peak, ep.metric = z, detail["metric"]
        self._accept_if_held(kind, ep, t, s)

    def _excursion(self, verdict: str, detail: dict[str, Any], t: int, s: LatencySettings) -> None:
        """Follows latency excursions; a short one that ends is remembered as a blip."""
        if verdict == "anomalous":
            self.excursion.append(detail["levels"]["p95"][0])  # one metric, so that levels compare
            return
        if self.excursion and len(self.excursion) <= BLIP_MINUTES:
            self.blips.append((t, len(self.excursion), max(self.excursion)))
        self.excursion = []
        self.blips = [b for b in self.blips if b[0] >= t - s.baseline_seconds * 1000]

    def _drop(self, verdict: str, z: float, t: int, s: LatencySettings) -> None:
        """Follows traffic drops; one that ends is remembered for the baseline span."""
        if verdict == "anomalous":
            self.drop.append(z)
            return
        if self.drop:
            self.drops.append((t, len(self.drop), max(self.drop)))
        self.drop = []
        self.drops = [d for d in self.drops if d[0] >= t - s.baseline_seconds * 1000]

    def _like_recent_drops(self, t: int, s: LatencySettings) -> bool:
        """A traffic drop no longer than, and about as deep as, three or more that the baseline
        span already had (the idle stretches of a job that runs on and off) is the traffic's
        pattern: it opens only once it lasts longer than they did."""
        if not self.drop:
            return False
        deepest = max(self.drop)
        like = [d for d in self.drops if d[0] >= t - s.baseline_seconds * 1000 and d[2] >= DROP_LIKE * deepest]
        return len(like) >= BLIP_RECURRING and len(self.drop) <= max(d[1] for d in like)

    def _like_recent_blips(self, kind: str, t: int, s: LatencySettings) -> bool:
        """A latency run no longer and no higher than the short excursions the series keeps
        having (three or more as high in the baseline span, a cache refresh, a batch job) is
        its pattern: it opens only once it lasts longer than they did."""
        if kind != "latency" or not self.excursion:
            return False
        top = max(self.excursion)
        like = [b for b in self.blips if b[0] >= t - s.baseline_seconds * 1000 and b[2] >= top - SPIKE_LIKE]
        return len(like) >= BLIP_RECURRING and len(self.excursion) <= max(b[1] for b in like)

    def _open(self, kind: str, t: int, detail: dict[str, Any], spike: bool, s: LatencySettings) -> Episode:
        last = self.closed.get(kind)
        if last is not None and self.run[kind][0] - last < SPIKE_QUIET * s.close_after * MINUTE_MS:
            self.intermittent.add(kind)
        ep = Episode(
            kind,
            self.run[kind][0],
            t + MINUTE_MS,
            opened_ms=t + MINUTE_MS,
            minutes=list(self.run[kind]),
            baseline=detail["baseline"],
            spike=spike,
        )
        self.open[kind] = ep
        self.episodes.append(ep)
        return ep

    def _accept_if_held(self, kind: str, ep: Episode, t: int, s: LatencySettings) -> None:
        """A level that has held for ``accept_after`` minutes is the new normal, unless an episode
        of another kind is open: accepting makes the level's minutes the baseline of every kind,
        so the errors of a slowdown that also fails calls would become normal and close unseen."""
        others = any(other is not None for k, other in self.open.items() if k != kind)
        if kind in ACCEPTED and not others and t + MINUTE_MS - ep.level_since() >= s.accept_after * MINUTE_MS:
            ep.resolved_ms = t + MINUTE_MS
            ep.resolution = "accepted"
            self.open[kind] = None
            self.run[kind] = []
            self.quiet[kind] = 0
            self.accepted_from = ep.level_since()


def _spike(z: float, detail: dict[str, Any], s: LatencySettings) -> bool:
    """One minute enough to report: ``spike_z`` out and ``spike_min_ratio`` times its baseline
    (or ``z_open`` out and twice that ratio, in a noisy series), with enough calls, and not like
    the minutes the series had anyway (a blip that recurs is its pattern, not news)."""
    ratio = detail.get("ratio", 0.0)
    severe = ratio >= s.spike_min_ratio and (z >= s.spike_z or ratio >= 2 * s.spike_min_ratio)
    usual = detail.get("recurring", 0) >= SPIKE_RECURRING
    return severe and not usual and detail.get("calls", 0) >= SPIKE_MIN_CALLS


def _follow_level(ep: Episode, t: int, detail: dict[str, Any], s: LatencySettings) -> None:
    """An open latency episode's own level (per metric, the median of its first minutes), and a
    rise of p95 or p99 ``z_open`` above its level for ``open_after`` minutes in a row: an
    escalation, after which the rise is the level."""
    now = {m: x for m, (x, _, _) in detail.get("levels", {}).items()}
    if not ep.levels or len(next(iter(ep.levels.values()))) < LEVEL_MINUTES:
        for m, x in now.items():
            ep.levels.setdefault(m, []).append(x)
        return
    scales = {m: scale for m, (_, _, scale) in detail["levels"].items()}
    # judged on the tail: the median of a mix of fast and slow calls (half of the traffic slow)
    # flips between the two from minute to minute without anything changing
    z = {
        m: (x - float(np.median(ep.levels[m]))) / scales[m]
        for m, x in now.items()
        if m in RISE_METRICS and ep.levels.get(m)
    }
    if not z or max(z.values()) < s.z_open:
        ep.rise = []
        return
    ep.rise.append((t, now))
    if len(ep.rise) < s.open_after:
        return
    metric = max(z, key=lambda m: z[m])
    ep.escalations.append(
        {
            "start_ms": ep.rise[0][0],
            "detected_ms": t + MINUTE_MS,
            "metric": metric,
            "from_ms": math.exp(float(np.median(ep.levels[metric]))),
            "to_ms": math.exp(float(np.median([v[metric] for _, v in ep.rise if metric in v]))),
        }
    )
    ep.levels = {m: [v[m] for _, v in ep.rise if m in v] for m in now}
    ep.rise = []


@dataclass(frozen=True)
class _Checkpoint:
    """A walk stopped before ``minute_ms``: its state and the normal flags of earlier minutes."""

    minute_ms: int
    minutes: np.ndarray
    normal: np.ndarray
    state: _State

    @staticmethod
    def take(minute_ms: int, walk: _Walk, st: _State) -> _Checkpoint:
        kept = walk.minutes < minute_ms
        state = copy.deepcopy(st)
        state.episodes = [ep for ep in state.episodes if ep.resolved_ms is None or ep.resolved_ms > minute_ms]
        state.resume_ms = minute_ms
        return _Checkpoint(minute_ms, walk.minutes[kept].copy(), walk.normal[kept].copy(), state)

    def restore(self, walk: _Walk) -> _State:
        """Copies the flags into ``walk`` (minutes the checkpoint never saw stay normal)."""
        before = walk.minutes < self.minute_ms
        pos = np.searchsorted(self.minutes, walk.minutes[before])
        pos = np.minimum(pos, max(len(self.minutes) - 1, 0))
        if len(self.minutes):
            seen = self.minutes[pos] == walk.minutes[before]
            walk.normal[np.flatnonzero(before)[seen]] = self.normal[pos[seen]]
        return copy.deepcopy(self.state)

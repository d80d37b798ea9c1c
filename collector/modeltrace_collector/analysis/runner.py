"""Runs the analyses on a schedule inside the collector and on demand, and keeps ``ml_findings``
in step with what they find."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..config import Config
from ..storage.errors import StorageError
from ..storage.store import StoreView
from .concept import PerformanceMonitor, PerformanceSettings
from .drift import DriftAnalyzer, DriftSettings, Reference
from .findings import Finding, FindingStore, Webhook
from .impact import describe
from .latency import (
    MINUTE_MS,
    POOLED_KINDS,
    Episode,
    LatencyDetector,
    LatencySettings,
    load_pool,
    load_series,
    pooled_traffic,
)
from .multivariate import MultivariateDrift, MultivariateSettings
from .performance import Performance
from .quality import outlier_summary
from .rca import RcaSettings, RootCause
from .sqlfiles import sql

log = logging.getLogger("modeltrace.analysis")
T = TypeVar("T")
R = TypeVar("R")

DRIFT_KINDS = ("drift", "dataset_drift", "multivariate_drift", "data_quality")
ANOMALY_KINDS = ("latency", "latency_drop", "error_rate", "traffic_drop")
EXPLAINED = ("latency", "error_rate")  # the kinds the root-cause contrast explains
SUBJECTS = {"latency": "duration", "latency_drop": "duration", "error_rate": "errors", "traffic_drop": "calls"}


def settings_from_config(
    config: Config,
) -> tuple[DriftSettings, LatencySettings, RcaSettings, PerformanceSettings]:
    anomaly = config.anomaly
    rca = RcaSettings(baseline_seconds=anomaly.rca_baseline_seconds, window_seconds=anomaly.rca_window_seconds)
    return (
        DriftSettings.of(config.drift),
        LatencySettings.of(anomaly),
        rca,
        PerformanceSettings.of(config.performance),
    )


class Analyzer:
    def __init__(
        self,
        store: StoreView,
        drift: DriftSettings | None = None,
        latency: LatencySettings | None = None,
        rca: RcaSettings | None = None,
        webhook: Webhook | None = None,
        performance: PerformanceSettings | None = None,
    ) -> None:
        self.store = store
        self.drift = DriftAnalyzer(store, drift or DriftSettings())
        self.latency_settings = latency or LatencySettings()
        self.detector = LatencyDetector(self.latency_settings)
        self.rca = RootCause(store, rca)
        self.performance = Performance(store)
        self.monitor = PerformanceMonitor(store, self.rca, performance)
        self.multivariate = MultivariateDrift(store, MultivariateSettings.of(self.drift.settings))
        self._multivariate_last: dict[tuple[str, str], dict[str, Any]] = {}
        self.findings = FindingStore(store, webhook)
        self.webhook = webhook
        self._lock = threading.Lock()
        self.last_run: dict[str, Any] = {}
        self.stopping = threading.Event()  # set when the collector stops: a pass under way ends early

    # -- latency and errors -------------------------------------------------------------

    def anomalies(self, at_ms: int | None = None, model: str = "") -> list[Finding]:
        """Latency, latency-drop, error-rate and traffic-drop episodes ongoing at ``at_ms`` or
        resolved within the evaluation span before it, as findings (not yet stored)."""
        s = self.latency_settings
        at_ms = at_ms if at_ms is not None else int(time.time() * 1000)
        at_ms -= at_ms % MINUTE_MS  # whole minutes only: the current one is still filling
        history = max(s.baseline_seconds, s.season_days * 86400) + s.evaluate_seconds
        start = at_ms - int(history * 1000)
        eval_from = at_ms - int(s.evaluate_seconds * 1000)
        series = load_series(self.store, start, at_ms, model)
        out = []
        for (m, version, operation), ser in series.items():
            if not len(ser.minute_ms) or ser.minute_ms[-1] < eval_from:
                continue
            pool = None
            if (ser.calls >= s.min_calls).sum() < s.min_history + s.open_after:
                pool = load_pool(self.store, start, at_ms, m, operation, version)
            episodes = self.detector.detect(ser, pool, eval_from, at_ms)
            out += [self._finding(ep, m, version, operation) for ep in episodes]
        # traffic, all versions together; the last minute may still be arriving, so it waits. Its
        # baseline is the last normal half hour, so hours (not the seasonal days) are walked: the
        # evaluation span, an accepted level's span and an hour before them
        since = at_ms - int(s.evaluate_seconds * 1000) - (s.accept_after + 60) * MINUTE_MS
        for (m, _, operation), ser in pooled_traffic(series, at_ms - MINUTE_MS, since).items():
            episodes = self.detector.detect(ser, None, eval_from, at_ms, kinds=POOLED_KINDS)
            out += [self._finding(ep, m, "", operation) for ep in episodes]
        return out

    def _finding(self, ep: Episode, model: str, version: str, operation: str) -> Finding:
        s = self.latency_settings
        evidence: dict[str, Any] = {
            "metric": ep.metric,
            "baseline": ep.baseline,
            "observed": ep.observed,
            "anomalous_minutes": len(ep.minutes),
            "detected_at_ms": ep.opened_ms,
            "summary": _anomaly_summary(ep),
        }
        if ep.spike:
            evidence["spike"] = True
        if ep.escalations:
            evidence["escalations"] = ep.escalations
        if ep.resolution == "accepted":
            evidence["resolution"] = "new level accepted"
        return Finding(
            kind=ep.kind,
            model=model,
            version=version,
            operation=operation,
            subject=SUBJECTS[ep.kind],
            score=round(ep.peak, 3),
            threshold=s.error_p if ep.kind == "error_rate" else s.z_open,
            severity=_severity(ep, s),
            window_start_ms=ep.start_ms,
            window_end_ms=ep.end_ms,
            evidence=evidence,
            opened_ms=ep.opened_ms,
            resolved_ms=ep.resolved_ms,
        )

    def rca_window(self, finding: Finding) -> tuple[int, int]:
        """Where the causes of an anomaly are sought: its first minutes, or its latest rise's."""
        rises = finding.evidence.get("escalations") or []
        start = int(rises[-1]["start_ms"]) if rises else finding.window_start_ms
        return start, min(finding.window_end_ms, start + int(self.rca.s.window_seconds * 1000))

    def explain(self, finding: Finding) -> dict[str, Any]:
        """Root causes of an anomaly finding, in its root-cause window."""
        start, end = self.rca_window(finding)
        return self.rca.analyze(
            finding.model, finding.operation, start, end, kind=finding.kind, version=finding.version
        )

    def _explain_once(self, f: Finding, old: Finding | None) -> None:
        """Root causes for a new anomaly, or while its root-cause window (its first minutes, or
        its latest rise's) still grows; after that the stored ones are kept."""
        window = list(self.rca_window(f))
        if old is not None and "root_causes" in old.evidence and old.evidence.get("rca_window") == window:
            for key in RCA_KEYS:
                if key in old.evidence:
                    f.evidence[key] = old.evidence[key]
            return
        try:
            result = self.explain(f)
        except Exception:
            log.exception("root-cause analysis failed for %s %s", f.kind, f.model)
            return
        f.evidence["root_causes"] = result["causes"]
        f.evidence["target_calls"] = result["target_calls"]
        # what the causes were ranked against: shown with them (the UI, the CLI)
        f.evidence["rca_baseline"] = result["baseline"]
        f.evidence["rca_ranking"] = result.get("ranking", "")
        f.evidence["rca_window"] = window

    def _joint(self, model: str, version: str, at_ms: int, report: dict[str, Any]) -> dict[str, Any]:
        """Multivariate drift of a version, recomputed at most every ``multivariate_every``
        seconds (it pulls rows); in between, the last result stands."""
        key = (model, version)
        last = self._multivariate_last.get(key)
        every = int(self.drift.settings.multivariate_every * 1000)
        if last is not None and 0 <= at_ms - last["at_ms"] < every:
            return last
        try:
            result = self.multivariate.analyze(
                model, version, at_ms, self.drift.settings.window, Reference.of(report["reference"])
            )
        except Exception:
            log.exception("multivariate drift failed for %s %s", model, version)
            result = {"tested": False}
        result["at_ms"] = at_ms
        if len(self._multivariate_last) >= 10_000:
            self._multivariate_last.pop(next(iter(self._multivariate_last)))
        self._multivariate_last[key] = result
        return result

    # -- performance with ground truth -----------------------------------------------------

    def performance_findings(
        self, at_ms: int, model: str, open_now: list[Finding]
    ) -> tuple[list[Finding], set[tuple[str, str]]]:
        """Performance drops of the models with ground truth, each explained once when it opens
        (where the errors are, and input drift or concept drift); an open one stays while the
        metric is still clearly down."""
        held = {f.model: f for f in open_now if not model or f.model == model}
        models = self.monitor.models(at_ms, model)
        scope = {(m, "") for m in [*models, *held]}
        out = []
        for m in models:
            try:
                check = self.monitor.check(m, at_ms)
            except Exception:
                log.exception("performance check failed for %s", m)
                continue
            old = held.get(m)
            if not (check["dropped"] or (old is not None and check["holding"])):
                continue
            f = _performance_finding(check, self.monitor.s.min_drop)
            if old is not None and old.evidence.get("root_causes"):  # none found yet: sought again
                for key in (*RCA_KEYS, "concept"):
                    if key in old.evidence:
                        f.evidence[key] = old.evidence[key]
            else:
                try:
                    result = self.monitor.explain(check)
                    f.evidence.update(
                        root_causes=result["causes"],
                        target_calls=result["target_calls"],
                        rca_baseline=result["baseline"],
                        rca_ranking=result.get("ranking", ""),
                        concept=result["concept"],
                    )
                except Exception:
                    log.exception("performance root cause failed for %s", m)
            out.append(f)
        return out, scope

    # -- drift ----------------------------------------------------------------------------

    def active_versions(self, end_ms: int, window: float, model: str = "") -> list[tuple[str, str]]:
        rows = self.store.query(
            sql("active_versions", self.store.database),
            {"s": end_ms - int(window * 1000), "e": end_ms, "model": model},
        ).result_rows
        return [(r[0], r[1]) for r in rows]

    def record_scores(self, at_ms: int, reports: list[dict[str, Any]], model: str = "") -> None:
        """Every tested feature's scores of one run into ``ml_drift_scores`` (one insert): the
        history dashboards draw. A repeat run at the same time stores nothing new."""
        at = dt.datetime.fromtimestamp(at_ms / 1000, dt.timezone.utc).replace(tzinfo=None)
        rows = [
            [
                at,
                report["model"],
                report["version"],
                f["side"],
                f["feature"],
                f["type"],
                f["test"],
                _number(f["score"]),
                _number(f["threshold"]),
                bool(f["drifted"]),
                _number(f.get("adjusted_p")),
                _number(f["metrics"].get("psi")),
                _number(f["metrics"].get("js")),
                _number(f["metrics"].get("wasserstein_norm")),
                _number(f["null_rate_current"]),
                _number(f.get("out_of_range_rate")),
                int(f["n_reference"]),
                int(f["n_current"]),
            ]
            for report in reports
            for f in report["features"]
            if f["tested"]
        ]
        if not rows:
            return
        try:
            self.store.insert(
                "ml_drift_scores", [list(c) for c in zip(*rows)], SCORE_COLUMNS, f"drift:{model or '*'}:{at_ms}"
            )
        except Exception as exc:  # the findings matter more than their history
            log.warning("could not record drift scores: %s", exc)

    def _drift_reports(self, at_ms: int, model: str) -> list[tuple[str, str, dict[str, Any] | None]]:
        """The drift report of every active version (None: nothing to compare with), computed
        by as many threads as the analysis lane has connections: each waits on ClickHouse most
        of its time, and the reports come back in the versions' order."""

        def one(key: tuple[str, str]) -> tuple[str, str, dict[str, Any] | None]:
            try:
                return (*key, self.drift.analyze(key[0], key[1], end_ms=at_ms))
            except LookupError:
                return (*key, None)
            except StorageError:
                raise  # storage is away: the pass fails as a whole, and says so
            except Exception:  # one version's failure leaves the others' findings standing
                log.exception("drift analysis failed for %s %s", *key)
                return (*key, None)

        versions = self.active_versions(at_ms, self.drift.settings.window, model)
        return _in_threads(one, versions, min(len(versions), self.store.lane_size()), self.stopping)

    def drift_findings(
        self, at_ms: int, model: str = "", open_now: list[Finding] | None = None
    ) -> tuple[list[Finding], set[tuple[str, str]]]:
        """Drift, dataset drift, multivariate drift and data-quality findings of the versions
        active before ``at_ms``. A drift among ``open_now`` stays while it holds (``holding``),
        even below the bar that opens one: one shift is one finding, not one per crossing of
        the threshold."""
        held = {f.key(): f for f in open_now or [] if f.kind == "drift"}
        out: list[Finding] = []
        scope = set()
        reports: list[dict[str, Any]] = []
        for m, version, report in self._drift_reports(at_ms, model):
            if report is None:
                continue
            scope.add((m, version))
            reports.append(report)
            found = _VersionFindings(m, version, report)
            for f in report["features"]:
                subject = f"{f['side']}.{f['feature']}"
                if f["drifted"] or (f["holding"] and ("drift", m, version, "", subject) in held):
                    found.drift(f, held.get(("drift", m, version, "", subject)))
                if f["quality"]:
                    score = max(
                        f["null_rate_current"], f.get("out_of_range_rate", 0.0), f.get("new_category_rate", 0.0)
                    )
                    evidence = {"issues": f["quality"], "summary": "; ".join(f["quality"])}
                    found.add("data_quality", subject, score, 0.05, "warning", evidence)
            joint = self._joint(m, version, at_ms, report)
            if joint.get("drifted"):
                found.multivariate(joint)
            if report["outliers"]["flagged"]:
                o = report["outliers"]
                evidence = {**o, "summary": outlier_summary(o)}
                found.add("data_quality", "input.outliers", o["share"], o["expected_share"], "warning", evidence)
            if report["dataset_drift"]:
                drifted = [f["feature"] for f in report["features"] if f["drifted"] and f["side"] == "input"]
                evidence = {"drifted": drifted, "summary": f"{report['drift_share']:.0%} of input features drifted"}
                found.add(
                    "dataset_drift",
                    "input",
                    report["drift_share"],
                    report["drift_share_threshold"],
                    "critical",
                    evidence,
                )
            out += found.findings
        self.record_scores(at_ms, reports, model)
        return out, scope

    # -- the scheduled run ----------------------------------------------------------------

    def run(self, at_ms: int | None = None, model: str = "") -> dict[str, Any]:
        """One pass: anomalies (with root causes for new or grown ones) and drift, reconciled
        with ``ml_findings``. Returns what was opened and resolved."""
        with self._lock:
            started = time.perf_counter()
            now_ms = at_ms if at_ms is not None else int(time.time() * 1000)
            anomalies = self.anomalies(now_ms, model)
            known = {f.key(): f for f in self.findings.open_findings(ANOMALY_KINDS)}
            for f in anomalies:
                if f.kind in EXPLAINED:
                    self._explain_once(f, known.get(f.key()))
            # with a model filter, only that model's open findings may be resolved
            scope = None if not model else {(f.model, f.version) for f in known.values() if f.model == model}
            events = self.findings.reconcile(
                ANOMALY_KINDS, anomalies, now_ms, scope, existing=list(known.values()), episodes=True
            )
            open_drift = self.findings.open_findings(DRIFT_KINDS)
            drift, scope = self.drift_findings(now_ms, model, open_drift)
            events += self.findings.reconcile(DRIFT_KINDS, drift, now_ms, scope, existing=open_drift)
            open_perf = self.findings.open_findings(("performance",))
            perf, scope = self.performance_findings(now_ms, model, open_perf)
            events += self.findings.reconcile(("performance",), perf, now_ms, scope, existing=open_perf)
            self.last_run = {
                "at_ms": now_ms,
                "seconds": round(time.perf_counter() - started, 3),
                "opened": [f.as_dict() for e, f in events if e == "opened"],
                "resolved": [f.as_dict() for e, f in events if e == "resolved"],
            }
            return self.last_run


RCA_KEYS = ("root_causes", "target_calls", "rca_baseline", "rca_ranking", "rca_window")


class _VersionFindings:
    """The drift and data-quality findings of one version's drift report, built alike."""

    def __init__(self, model: str, version: str, report: dict[str, Any]) -> None:
        self.model, self.version, self.report = model, version, report
        self.findings: list[Finding] = []

    def add(
        self, kind: str, subject: str, score: float, threshold: float, severity: str, evidence: dict[str, Any]
    ) -> None:
        win = self.report["window"]
        self.findings.append(
            Finding(
                kind=kind,
                model=self.model,
                version=self.version,
                operation="",
                subject=subject,
                score=score,
                threshold=threshold,
                severity=severity,
                window_start_ms=win["start_ms"],
                window_end_ms=win["end_ms"],
                evidence=evidence,
            )
        )

    def drift(self, f: dict[str, Any], before: Finding | None) -> None:
        """One feature's drift; ``before``: the open finding it continues, if any."""
        score = float(f["score"])
        far = (score < f["threshold"] / 100) if f["p_value_test"] else (score >= 2 * f["threshold"])
        summary = _drift_summary(f)
        said = describe(f["impact"]) if f.get("impact") else ""
        summary += f"; {said}" if said else ""
        # the score that opened the finding, kept while it stays open
        opened_score = float(before.evidence.get("opened_score", before.score)) if before else score
        if not f["drifted"]:  # held open by hysteresis: say so, and what opened it
            summary = (
                f"held open: {f['test']} {score:.4g} is back within its threshold {f['threshold']:g} "
                f"but not yet clear of it (opened at {opened_score:.4g}); {summary}"
            )
        ranked = self.report["ranked_by_impact"]
        evidence = {
            "test": f["test"],
            "metrics": f["metrics"],
            "reference": self.report["reference"],
            "n_reference": f["n_reference"],
            "n_current": f["n_current"],
            "summary": summary,
            "held": not f["drifted"],
            "opened_score": opened_score,
            "impact": f.get("impact"),
            "impact_rank": ranked.index(f["feature"]) + 1 if f["side"] == "input" and f["feature"] in ranked else None,
        }
        self.add(
            "drift", f"{f['side']}.{f['feature']}", score, f["threshold"], "critical" if far else "warning", evidence
        )

    def multivariate(self, joint: dict[str, Any]) -> None:
        ref = joint["reference_error"]
        moved = [c["feature"] for c in joint.get("contributions", [])[:3]]
        summary = (
            f"how the inputs move together changed: reconstruction error {joint['current_error']:.3g} vs "
            f"{ref['mean']:.3g} in the reference (bounds {joint['bounds'][0]:.3g} to {joint['bounds'][1]:.3g}, "
            f"{len(joint['features'])} features, {joint['components']} components); most changed: " + ", ".join(moved)
        )
        evidence = {
            "summary": summary,
            **{k: joint[k] for k in ("features", "components", "explained_variance", "current_error", "bounds")},
            "reference_error": ref,
            "calls": joint["calls"],
            "contributions": joint.get("contributions", [])[:10],
        }
        score = round(float(joint["score"] or 0.0), 3)
        self.add("multivariate_drift", "input", score, float(joint.get("sigmas", 3.0)), "warning", evidence)


def _performance_finding(check: dict[str, Any], min_drop: float) -> Finding:
    params = check["params"]
    if check["metric"] == "accuracy":
        severe = check["reference"] - check["window"] >= 3 * min_drop
    else:
        severe = check["window"] >= 2 * check["reference"]
    return Finding(
        kind="performance",
        model=check["model"],
        version="",
        operation="",
        subject=check["metric"],
        score=round(float(check["window"]), 6),
        threshold=round(float(check["reference"]), 6),
        severity="critical" if severe else "warning",
        window_start_ms=params["win_start"],
        window_end_ms=params["end"],
        evidence={
            "summary": check["summary"],
            "task": check["task"],
            "reference": check["reference"],
            "window": check["window"],
            "p_value": check["p_value"],
            "calls": check["calls"],
            "held": not check["dropped"],
        },
    )


def _severity(ep: Episode, s: LatencySettings) -> str:
    if ep.kind == "latency":
        if ep.spike:
            return "info"  # one severe minute, so far
        change = ep.observed.get(ep.metric, 0.0) / ep.baseline[ep.metric] if ep.baseline.get(ep.metric) else 0.0
        return "critical" if change >= 2 or ep.peak >= 3 * s.z_open or ep.escalations else "warning"
    if ep.kind == "traffic_drop":
        usual = ep.baseline.get("calls_per_minute", 0.0)
        return "critical" if ep.observed.get("calls_per_minute", 0.0) <= 0.1 * usual else "warning"
    return "critical" if ep.peak >= 3 * s.z_open else "warning"


def _anomaly_summary(ep: Episode) -> str:
    if ep.kind == "latency":
        shown = [m for m in ("p50", "p95", "p99") if m in ep.baseline]
        text = (
            "/".join(shown)
            + " "
            + " / ".join(f"{ep.observed.get(m, 0):.3g}" for m in shown)
            + " ms vs baseline "
            + " / ".join(f"{ep.baseline[m]:.3g}" for m in shown)
            + " ms"
        )
        if ep.spike:
            text = "spike: " + text
        for rise in ep.escalations:
            at = dt.datetime.fromtimestamp(rise["start_ms"] / 1000, dt.timezone.utc).strftime("%H:%M")
            text += f"; rose again at {at} UTC: {rise['metric']} {rise['from_ms']:.3g} -> {rise['to_ms']:.3g} ms"
    elif ep.kind == "latency_drop":
        text = (
            f"p50 {ep.observed.get('p50', 0):.3g} ms vs baseline {ep.baseline.get('p50', 0):.3g} ms: calls are "
            "much faster than usual (a model that skips its work, a cache or a fallback answering?)"
        )
    elif ep.kind == "traffic_drop":
        text = (
            f"{ep.observed.get('calls_per_minute', 0):.3g} calls/min vs usually "
            f"{ep.baseline.get('calls_per_minute', 0):.3g} calls/min"
        )
    else:
        text = f"error rate {ep.observed['error_rate']:.1%} vs baseline {ep.baseline['error_rate']:.1%}"
    if ep.resolution == "accepted":
        text += "; held long enough: new level accepted"
    return text


SCORE_COLUMNS = (
    "Timestamp", "ModelName", "ModelVersion", "Side", "Feature", "FeatureType", "Test", "Score", "Threshold",
    "Drifted", "PValue", "PSI", "JS", "WassersteinNorm", "NullRate", "OutOfRangeRate", "NReference", "NCurrent",
)  # fmt: skip


def _number(v: Any) -> float:
    """A float for a Float64 column: NaN for a missing value, infinities kept."""
    return float("nan") if v is None else float(v)


def _drift_summary(f: dict[str, Any]) -> str:
    m = f["metrics"]
    if f["type"] == "numeric":
        return (
            f"{f['test']} {f['score']:.4g} (threshold {f['threshold']:g}); mean {f.get('reference_mean', 0):.4g} -> "
            f"{f.get('current_mean', 0):.4g}; PSI {m['psi']:.3f}, KS p {m['ks_pvalue']:.2g}"
        )
    return f"{f['test']} {f['score']:.4g} (threshold {f['threshold']:g}); PSI {m['psi']:.3f}, JS {m['js']:.3f}"


class Stopping(Exception):
    """The collector is stopping: the pass under way ends without its findings."""


def _in_threads(fn: Callable[[T], R], items: list[T], threads: int, stopping: threading.Event) -> list[R]:
    """``fn`` of every item, in order, on up to ``threads`` daemon threads (a stopping collector
    must never wait at exit for threads still running a pass: ThreadPoolExecutor's workers are
    joined at interpreter exit). Raises ``Stopping`` once ``stopping`` is set, and the first
    error any call raised."""
    results: list[R | None] = [None] * len(items)
    todo = iter(range(len(items)))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def work() -> None:
        while not stopping.is_set() and not failures:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            try:
                results[i] = fn(items[i])
            except BaseException as exc:  # handed to the caller
                failures.append(exc)

    if threads < 2:
        work()
    else:
        workers = [threading.Thread(target=work, name=f"drift-{k}", daemon=True) for k in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    if failures:
        raise failures[0]
    if stopping.is_set():
        raise Stopping()
    return results  # type: ignore[return-value]  # every slot filled when nothing failed or stopped


class Scheduler:
    """Calls ``Analyzer.run`` every ``interval`` seconds on a background thread."""

    def __init__(self, analyzer: Analyzer, interval: float) -> None:
        self.analyzer = analyzer
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="modeltrace-analysis", daemon=True)
        self.runs = 0
        self.failures = 0

    name = "analysis scheduler"

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive() or self._stop.is_set()

    def health(self) -> list[str]:
        return [] if self.alive() else ["the analysis scheduler thread has died; see the log"]

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.analyzer.run()
                self.runs += 1
            except Stopping:
                return
            except Exception as exc:
                self.failures += 1
                log.warning("analysis run failed: %s", exc)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop; a run in progress ends at its next version's drift (or within ``timeout``)."""
        self._stop.set()
        self.analyzer.stopping.set()
        self._thread.join(timeout)

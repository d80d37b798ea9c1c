"""Data drift and data quality per model, version and feature, computed in ClickHouse.

Two passes over the sampled values (``ml_features``) of the current window and a reference (an
uploaded baseline from ``ml_references`` or an earlier window):

1. a profile per feature: sizes, nulls, distinct values, the reference's decile edges and range;
2. the metrics: KS, Wasserstein-1, PSI and Jensen-Shannon for numeric features; chi-square, PSI
   and Jensen-Shannon for categorical ones (and numeric ones with at most 5 distinct values).

Only per-feature summaries come back to Python, which picks the headline test by type and
sample size (Evidently's rules) and applies thresholds.

The rows sampled from one call are not independent observations: a batch shares its region and
channel, and its numbers lie near each other. A third query measures, per feature and side, how
alike the rows of a call are (the intraclass correlation of the values' categories, or of their
reference decile bins for continuous features) and the p-values use Kish's effective sample size
n / (1 + (m - 1) * icc) instead of the row count, m being the mean call size weighted by rows.
A window is judged only with ``min_calls`` calls and ``min_samples`` effective values per side.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import DriftConfig
from ..storage.store import StoreView
from .impact import impacts
from .quality import column_issues, outliers
from .sqlfiles import sql

_DEFAULTS = DriftConfig()

NUMERIC_TESTS = ("ks", "wasserstein", "psi", "js", "chisquare")
P_VALUE_TESTS = ("ks", "chisquare")
# Evidently's thresholds, but 0.01 rather than 0.05 for the p-value tests: the collector tests
# every minute over overlapping windows, and at 0.05 a model of a few features drifts by chance
# about once a day.
DEFAULT_THRESHOLDS = {"ks": 0.01, "chisquare": 0.01, "wasserstein": 0.1, "psi": 0.1, "js": 0.1}
# scipy's ks_2samp computes the exact p-value up to this sample size ('auto'), asymptotic above.
KS_EXACT_MAX = 10_000
# A design effect below this counts as none: the rows are as good as independent.
CLUSTERED_DEFF = 1.02
# The rows of a call count as alike when a one-way ANOVA across calls is this significant.
CLUSTER_P = 0.01
# A drift that was found stays found until it is clearly gone: its adjusted p-value above this
# many times the significance, or its distance below this share of the threshold.
HOLD_P_FACTOR = 5.0
HOLD_SCORE_SHARE = 0.8


@dataclass(frozen=True)
class DriftSettings:
    """[drift] as the analysis uses it; the defaults are the config's (config.DriftConfig)."""

    window: float = _DEFAULTS.window_seconds
    reference: str = _DEFAULTS.reference  # auto | upload | window
    reference_window: float = _DEFAULTS.reference_window_seconds
    min_samples: int = _DEFAULTS.min_samples
    min_calls: int = _DEFAULTS.min_calls
    multivariate_every: float = _DEFAULTS.multivariate_every_seconds
    drift_share: float = _DEFAULTS.drift_share
    significance: float = _DEFAULTS.significance
    thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, config: DriftConfig) -> DriftSettings:
        return cls(
            window=config.window_seconds,
            reference=config.reference,
            reference_window=config.reference_window_seconds,
            min_samples=config.min_samples,
            min_calls=config.min_calls,
            multivariate_every=config.multivariate_every_seconds,
            drift_share=config.drift_share,
            significance=config.significance,
            thresholds=dict(config.thresholds),
        )

    def rule(self, model: str, feature: str) -> dict[str, Any]:
        """The configured test/threshold override for a feature ("model/feature", then "model")."""
        out: dict[str, Any] = {}
        out.update(self.thresholds.get(model, {}))
        out.update(self.thresholds.get(f"{model}/{feature}", {}))
        return out


@dataclass
class Reference:
    kind: str  # upload | window
    reference_id: str = ""
    version: str = ""
    start_ms: int = 0
    end_ms: int = 0

    @classmethod
    def of(cls, described: dict[str, Any]) -> Reference:
        """The reference a report describes (``describe``'s inverse)."""
        return cls(**described)

    def describe(self) -> dict[str, Any]:
        if self.kind == "upload":
            return {"kind": "upload", "reference_id": self.reference_id, "version": self.version}
        return {"kind": "window", "version": self.version, "start_ms": self.start_ms, "end_ms": self.end_ms}


def default_test(kind: str, n_ref: int, distinct: int) -> str:
    """Evidently's default choice (n: reference size, distinct: values in both samples).

    Its Z-test for two categories is the chi-square test on the 2 x 2 table (the same p-value
    without continuity correction); chi-square is used for it here.
    """
    if kind == "numeric" and distinct > 5:
        return "ks" if n_ref <= 1000 else "wasserstein"
    if n_ref <= 1000:
        return "chisquare"
    return "js"


@dataclass(frozen=True)
class Design:
    """One side of one feature as sampled: rows, the calls they came from, and how alike the
    rows of a call are."""

    rows: float
    calls: float
    icc: float = 0.0
    mean_call_rows: float = 1.0  # weighted by rows: sum(n^2) / sum(n)

    @classmethod
    def of(cls, row: dict[str, Any], ranked: bool) -> Design:
        """From drift_design.sql's sums; ``ranked``: the intraclass correlation of the rank
        scores (a continuous feature), else of the category indicators. Rows count as
        independent unless the one-way ANOVA's F test says calls differ (p < CLUSTER_P): the
        correlation estimated from pure noise would only cost power."""
        from scipy import stats

        n, calls = float(row["n"]), float(row["calls"])
        if n <= 1 or calls >= n - 0.5 or calls < 2:  # one row per call (or one call): nothing to correct
            return cls(n, calls)
        if ranked:
            squares = float(row["sum_r2"])
            within = squares - float(row["within_r"])
            total = squares - float(row["sum_r"]) ** 2 / n
        else:  # the indicators' sums of squares are half the Gini impurities times n
            within = (n - float(row["within"])) / 2
            total = (n - float(row["between"]) / n) / 2
        between = max(total - within, 0.0)
        if within <= 0:
            icc = 1.0 if between > 0 else 0.0
        elif stats.f.sf(between / (calls - 1) / (within / (n - calls)), calls - 1, n - calls) >= CLUSTER_P:
            icc = 0.0
        else:
            icc = min(max(1.0 - (within / (n - calls)) / (total / (n - 1)), 0.0), 1.0)
        return cls(n, calls, icc, float(row["sum_n2"]) / n)

    @property
    def deff(self) -> float:
        """Kish's design effect of sampling whole calls."""
        return 1.0 + (self.mean_call_rows - 1.0) * self.icc

    @property
    def effective(self) -> float:
        return self.rows / self.deff


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values: a model with many features does not drift by chance."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted = [1.0] * len(pvalues)
    running = 0.0
    m = len(pvalues)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


class DriftAnalyzer:
    def __init__(self, store: StoreView, settings: DriftSettings) -> None:
        self.store = store
        self.settings = settings

    # -- references -----------------------------------------------------------------------

    def latest_upload(self, model: str, version: str) -> tuple[str, str] | None:
        """The newest uploaded reference for this version, else for the model as a whole."""
        rows = self.store.query(
            sql("reference_latest_upload", self.store.database), {"model": model, "version": version}
        ).result_rows
        return (rows[0][0], rows[0][1]) if rows else None

    def pick_reference(self, model: str, version: str, start_ms: int, reference: str | None = None) -> Reference:
        mode = reference or self.settings.reference
        if mode in ("auto", "upload"):
            found = self.latest_upload(model, version)
            if found:
                return Reference("upload", reference_id=found[1], version=found[0])
            if mode == "upload":
                raise LookupError(f"no reference uploaded for model {model!r}")
        end = start_ms
        begin = end - int(self.settings.reference_window * 1000)
        # The same version when it has enough history, else every version (a new version is
        # compared with the traffic it replaced).
        count = self.store.query(
            sql("version_calls", self.store.database), {"model": model, "version": version, "s": begin, "e": end}
        ).result_rows[0][0]
        return Reference(
            "window", version=version if count >= self.settings.min_samples else "", start_ms=begin, end_ms=end
        )

    # -- the computation ------------------------------------------------------------------

    def source(self, kind: str, ref: Reference, both_sides: bool = False) -> str:
        """The reference's and the window's values of the ``{kind}`` features, of the side the
        ``side`` parameter names or, with ``both_sides``, of inputs and outputs, each feature
        then named "side:name" (``compare`` splits them back)."""
        db = self.store.database
        if both_sides:
            sides = "Side IN ('input', 'output')"
            window, upload = "concat(Side, ':', name)", "concat(Side, ':', Feature)"
        else:
            sides, window, upload = "Side = {side:String}", "name", "Feature"
        cur = sql("values_window", db, tag="1", kind=kind, sides=sides, feature=window)
        if ref.kind == "upload":
            base = sql("values_reference", db, kind=kind, sides=sides, feature=upload)
        else:
            base = sql("values_window", db, tag="0", kind=kind, sides=sides, feature=window)
        return f"{base}\nUNION ALL\n{cur}"

    @staticmethod
    def params(model: str, version: str, side: str, start_ms: int, end_ms: int, ref: Reference) -> dict[str, Any]:
        """The parameters of values_window / values_reference: the window (1) and the reference (0)."""
        return {
            "model": model,
            "side": side,
            "version_1": version,
            "start_1": start_ms,
            "end_1": end_ms,
            "version_0": ref.version,
            "start_0": ref.start_ms,
            "end_0": ref.end_ms,
            "reference_id": ref.reference_id,
        }

    def compare(self, model: str, version: str, start_ms: int, end_ms: int, ref: Reference) -> list[dict[str, Any]]:
        """Per-feature drift and quality between ``ref`` and the window [start, end), inputs then
        outputs. One set of queries serves both sides (features named "side:name" in them)."""
        db = self.store.database
        params = self.params(model, version, "", start_ms, end_ms, ref)
        del params["side"]
        num_source = self.source("Num", ref, both_sides=True)
        profile = list(self.store.query(sql("drift_numeric_profile", db, source=num_source), params).named_results())
        out: list[dict[str, Any]] = []
        both = [p for p in profile if p["n_ref"] > 0 and p["n_cur"] > 0]
        for p in profile:
            if p not in both:  # only one side has values: nothing to compare
                out.append(self._one_sided("numeric", p["feature"], p))
        continuous = [p for p in both if p["distinct_values"] > 5]
        few_values = [p for p in both if p["distinct_values"] <= 5]
        # ClickHouse's exact KS p-value (as scipy's 'auto' mode) where a feature's samples are small
        small = [p for p in continuous if max(p["n_ref"], p["n_cur"]) <= KS_EXACT_MAX]
        large = [p for p in continuous if p not in small]
        for group, exact in ((small, True), (large, False)):
            if group:
                out.extend(self._continuous(model, num_source, params, group, exact))
        if few_values:
            out.extend(
                self._categorical(
                    model,
                    num_source,
                    params,
                    [p["feature"] for p in few_values],
                    "if(isNaN(value), NULL, toString(value))",
                    any(p["repeated"] for p in few_values),
                )
            )
        out.extend(self._categorical(model, self.source("Cat", ref, both_sides=True), params, None, "value"))
        for item in out:
            item["side"], _, item["feature"] = item["feature"].partition(":")
        return sorted(out, key=lambda item: item["side"] != "input")  # stable: the kinds' order kept

    def _continuous(
        self, model: str, source: str, params: dict[str, Any], profile: list[dict[str, Any]], exact: bool
    ) -> list[dict[str, Any]]:
        """KS, Wasserstein, PSI and JS of continuous features, with their profiles (pass 1)."""
        feature_params = {
            **params,
            "features": [p["feature"] for p in profile],
            "n_ref": [float(p["n_ref"]) for p in profile],
            "n_cur": [float(p["n_cur"]) for p in profile],
            "ref_min": [_finite(p["ref_min"]) for p in profile],
            "ref_max": [_finite(p["ref_max"]) for p in profile],
            "edges": [e for p in profile for e in list(p["edges"]) + [math.inf] * (9 - len(p["edges"]))],
            "bins": [len(p["edges"]) + 1 for p in profile],
        }
        ks_exact = "kolmogorovSmirnovTest('two-sided', 'exact')(value, tag).2" if exact else "nan"
        db = self.store.database
        rows = self.store.query(sql("drift_numeric", db, source=source, ks_exact=ks_exact), feature_params)
        bin_of = (
            "if(isNaN(value), NULL, arraySum(x -> x < value, arraySlice({edges:Array(Float64)}, "
            "9 * (indexOf({features:Array(String)}, feature) - 1) + 1, 9)))"
        )
        repeated = any(p["repeated"] for p in profile)
        designs = self._designs(source, feature_params, bin_of, ranked=True) if repeated else {}
        by_name = {p["feature"]: p for p in profile}
        return [self._numeric_result(model, by_name[row["feature"]], row, designs) for row in rows.named_results()]

    def _categorical(
        self,
        model: str,
        source: str,
        params: dict[str, Any],
        features: list[str] | None,
        category: str,
        repeated: bool = False,
    ) -> list[dict[str, Any]]:
        """``features`` None: every feature of ``source``. ``repeated``: some call gives one of
        them more than one row (the design effect is measured only then)."""
        db = self.store.database
        if features is None:
            names = self.store.query(
                sql("distinct_features", db, source=source), {**params, "features": []}
            ).result_rows
            features = [r[0] for r in names]
            repeated = any(bool(r[1]) for r in names)
        if not features:
            return []
        rows = self.store.query(
            sql("drift_categorical", db, source=source, category=category), {**params, "features": features}
        ).named_results()
        designs = self._designs(source, {**params, "features": features}, category, ranked=False) if repeated else {}
        return [
            self._categorical_result(model, row, designs)
            if row["n_ref"] and row["n_cur"]
            else self._one_sided("categorical", row["feature"], row)
            for row in rows
        ]

    def _designs(
        self, source: str, params: dict[str, Any], category: str, ranked: bool
    ) -> dict[tuple[str, int], Design]:
        """Per (feature, tag): rows, calls and the within-call likeness (drift_design.sql)."""
        query = sql(
            "drift_design", self.store.database, source=source, category=category, rank=category if ranked else "0"
        )
        return {
            (r["feature"], int(r["tag"])): Design.of(r, ranked) for r in self.store.query(query, params).named_results()
        }

    @staticmethod
    def _sampling(result: dict[str, Any], designs: dict[tuple[str, int], Design]) -> tuple[Design, Design]:
        """The feature's two designs, recorded in its result (calls and effective sizes)."""
        name = result["feature"]
        ref = designs.get((name, 0), Design(result["n_reference"], result["n_reference"]))
        cur = designs.get((name, 1), Design(result["n_current"], result["n_current"]))
        result.update(
            calls_reference=round(ref.calls),
            calls_current=round(cur.calls),
            effective_reference=round(ref.effective, 1),
            effective_current=round(cur.effective, 1),
            design_effect_reference=round(ref.deff, 3),
            design_effect_current=round(cur.deff, 3),
        )
        return ref, cur

    def _one_sided(self, kind: str, feature: str, row: dict[str, Any]) -> dict[str, Any]:
        result = self._base(
            kind, feature, int(row["n_ref"]), int(row["n_cur"]), int(row["null_ref"]), int(row["null_cur"])
        )
        missing = "reference" if not row["n_ref"] else "current window"
        result.update(
            metrics={},
            distinct_values=0,
            test="",
            score=None,
            threshold=None,
            tested=False,
            p_value_test=False,
            note=f"no values in the {missing}",
        )
        return result

    def _numeric_result(
        self, model: str, prof: dict[str, Any], row: dict[str, Any], designs: dict[tuple[str, int], Design]
    ) -> dict[str, Any]:
        from scipy import stats

        n, m = int(row["n"]), int(row["m"])
        result = self._base("numeric", prof["feature"], n, m, int(prof["null_ref"]), int(prof["null_cur"]))
        ref, cur = self._sampling(result, designs)
        ks_d = float(row["ks_statistic"])
        ks_p = float(row["ks_exact"])
        if max(ref.deff, cur.deff) > CLUSTERED_DEFF:  # clustered rows: the statistic on the effective sizes
            ne, me = ref.effective, cur.effective
            ks_p = float(stats.kstwo.sf(ks_d, max(round(ne * me / (ne + me)), 1)))
        elif math.isnan(ks_p):  # large samples: scipy's asymptotic two-sided p-value for the statistic
            ks_p = float(stats.kstwo.sf(ks_d, round(n * m / (n + m))))
        std = float(prof["ref_std"] or 0.0)
        w = float(row["wasserstein"])
        w_norm = w / std if std > 0 else (0.0 if w == 0 else math.inf)
        metrics = {
            "ks_statistic": ks_d,
            "ks_pvalue": ks_p,
            "wasserstein": w,
            "wasserstein_norm": w_norm,
            "psi": float(row["psi"]),
            "js": float(row["js"]),
        }
        result.update(
            metrics=metrics,
            distinct_values=int(prof["distinct_values"]),
            out_of_range_rate=int(row["out_of_range"]) / m if m else 0.0,
            reference_mean=_finite(prof["ref_mean"]),
            current_mean=_finite(prof["cur_mean"]),
            reference_std=std,
            bins={"edges": list(prof["edges"]), "reference": list(row["ref_hist"]), "current": list(row["cur_hist"])},
        )
        return self._decide(model, result, default_test("numeric", n, int(prof["distinct_values"])))

    def _categorical_result(
        self, model: str, row: dict[str, Any], designs: dict[tuple[str, int], Design]
    ) -> dict[str, Any]:
        from scipy import stats

        n, m = int(row["n_ref"]), int(row["n_cur"])
        result = self._base("categorical", row["feature"], n, m, int(row["null_ref"]), int(row["null_cur"]))
        ref, cur = self._sampling(result, designs)
        dof = int(row["chi2_dof"])
        chi2 = float(row["chi2"])
        if dof > 0 and max(ref.deff, cur.deff) > CLUSTERED_DEFF:
            # the same test on the table scaled to the effective sizes (a Rao-Scott style correction)
            table = np.array([row["ref_counts"], row["cur_counts"]], dtype=float)
            table *= np.array([[ref.effective / max(n, 1)], [cur.effective / max(m, 1)]])
            chi2 = float(stats.chi2_contingency(table, correction=True)[0])
        p = float(stats.chi2.sf(chi2, dof)) if dof > 0 else 1.0
        metrics = {"chisquare": chi2, "chisquare_pvalue": p, "psi": float(row["psi"]), "js": float(row["js"])}
        counts = sorted(zip(row["categories"], row["ref_counts"], row["cur_counts"]), key=lambda t: -(t[1] + t[2]))
        result.update(
            metrics=metrics,
            distinct_values=int(row["k"]),
            new_category_rate=int(row["new_category_values"]) / m if m else 0.0,
            new_categories=[c for c, r, _ in counts if r == 0][:10],
            top_categories=[{"value": c, "reference": r, "current": k} for c, r, k in counts[:10]],
        )
        return self._decide(model, result, default_test("categorical", n, int(row["k"])))

    @staticmethod
    def _base(kind: str, feature: str, n: int, m: int, null_ref: int, null_cur: int) -> dict[str, Any]:
        return {
            "feature": feature,
            "type": kind,
            "n_reference": n,
            "n_current": m,
            "null_rate_reference": null_ref / (n + null_ref) if n + null_ref else 0.0,
            "null_rate_current": null_cur / (m + null_cur) if m + null_cur else 0.0,
        }

    def _decide(self, model: str, result: dict[str, Any], test: str) -> dict[str, Any]:
        rule = self.settings.rule(model, result["feature"].partition(":")[2])  # "side:name" here
        test = rule.get("test", test)
        if test == "chisquare" and result["type"] == "numeric":
            test = "ks"  # a continuous feature has no categories to count
        if test == "ks" and result["type"] == "categorical":
            test = "chisquare"
        threshold = float(rule.get("threshold", DEFAULT_THRESHOLDS[test]))
        metrics = result["metrics"]
        score = {
            "ks": metrics.get("ks_pvalue"),
            "chisquare": metrics.get("chisquare_pvalue"),
            "wasserstein": metrics.get("wasserstein_norm"),
            "psi": metrics.get("psi"),
            "js": metrics.get("js"),
        }[test]
        calls = min(result["calls_reference"], result["calls_current"])
        effective = min(result["effective_reference"], result["effective_current"])
        enough = effective >= self.settings.min_samples and calls >= self.settings.min_calls
        if not enough:
            result["note"] = (
                f"too few calls to judge: {calls} (min_calls {self.settings.min_calls})"
                if calls < self.settings.min_calls
                else f"too few effective values to judge: {effective:g} (min_samples {self.settings.min_samples})"
            )
        result.update(test=test, score=score, threshold=threshold, tested=enough, p_value_test=test in P_VALUE_TESTS)
        return result

    def analyze(
        self,
        model: str,
        version: str,
        end_ms: int | None = None,
        window: float | None = None,
        reference: str | None = None,
    ) -> dict[str, Any]:
        """Drift of one model version's inputs and outputs over the window ending at ``end_ms``."""
        started = time.perf_counter()
        end_ms = end_ms if end_ms is not None else int(time.time() * 1000)
        start_ms = end_ms - int((window or self.settings.window) * 1000)
        ref = self.pick_reference(model, version, start_ms, reference)
        features = self.compare(model, version, start_ms, end_ms, ref)
        tested = [f for f in features if f["tested"]]
        # Every feature also gets a significance test (KS or chi-square), Holm-adjusted across the
        # model's features. A p-value test decides on it; a distance test needs both the distance
        # over its threshold and significance, so sampling noise in a small current window (a
        # normalised Wasserstein of 0.1 is common by chance with a few hundred values) is not drift.
        columns = column_issues(features)
        gates = [f["metrics"].get("ks_pvalue", f["metrics"].get("chisquare_pvalue", 1.0)) for f in tested]
        for f, adjusted in zip(tested, holm([float(p) for p in gates])):
            f["adjusted_p"] = adjusted
        alpha = self.settings.significance
        for f in features:
            if not f["tested"]:
                f["drifted"] = f["holding"] = False
            elif f["p_value_test"]:
                f["drifted"] = f["adjusted_p"] < f["threshold"]
                f["holding"] = f["adjusted_p"] < HOLD_P_FACTOR * f["threshold"]
            else:
                f["drifted"] = f["score"] >= f["threshold"] and f["adjusted_p"] < alpha
                f["holding"] = (
                    f["score"] >= HOLD_SCORE_SHARE * f["threshold"] and f["adjusted_p"] < HOLD_P_FACTOR * alpha
                )
            f["quality"] = quality_issues(f)
        for f in features:  # a column missing, new, retyped or all null: said once per column
            issues = columns.pop((f["side"], f["feature"]), [])
            f["quality"] = issues + f["quality"]
        inputs = [f for f in tested if f["side"] == "input"]
        share = sum(f["drifted"] for f in inputs) / len(inputs) if inputs else 0.0
        moved = [f for f in inputs if f["drifted"] or f["holding"]]
        if moved:  # ranked by what they do: latency, failures, wrong predictions
            found = impacts(self, model, version, start_ms, end_ms, moved)
            for f in moved:
                f["impact"] = found.get(f["feature"], {"calls": 0, "impact": 0.0})
            moved.sort(key=lambda f: -f["impact"]["impact"])
        return {
            "model": model,
            "version": version,
            "window": {"start_ms": start_ms, "end_ms": end_ms},
            "reference": ref.describe(),
            "features": features,
            "drift_share": share,
            "ranked_by_impact": [f["feature"] for f in moved],
            "dataset_drift": bool(inputs) and share >= self.settings.drift_share,
            "drift_share_threshold": self.settings.drift_share,
            "outliers": outliers(self, model, version, start_ms, end_ms, ref),
            "seconds": time.perf_counter() - started,
        }

    # -- distributions (the UI's overlay) ---------------------------------------------------

    def distribution(
        self,
        model: str,
        version: str,
        feature: str,
        side: str = "input",
        end_ms: int | None = None,
        window: float | None = None,
        reference: str | None = None,
        bins: int = 30,
    ) -> dict[str, Any]:
        """One feature's reference and current distributions, as the drift test compares them:
        a histogram on shared bins for numbers, category counts for the rest (and for numbers
        with 20 distinct values or fewer)."""
        end_ms = end_ms if end_ms is not None else int(time.time() * 1000)
        start_ms = end_ms - int((window or self.settings.window) * 1000)
        ref = self.pick_reference(model, version, start_ms, reference)
        params = {**self.params(model, version, side, start_ms, end_ms, ref), "feature": feature}
        out: dict[str, Any] = {
            "model": model,
            "version": version,
            "feature": feature,
            "side": side,
            "window": {"start_ms": start_ms, "end_ms": end_ms},
            "reference": ref.describe(),
        }
        db = self.store.database
        num_source = self.source("Num", ref)
        lo, hi, distinct, n = self.store.query(sql("distribution_range", db, source=num_source), params).result_rows[0]
        if n and distinct > 20:
            lo, hi = float(lo), float(hi)
            width = (hi - lo) / bins if hi > lo else 1.0
            counts = [[0] * bins, [0] * bins]
            nulls = [0, 0]
            rows = self.store.query(
                sql("distribution_numeric", db, source=num_source), {**params, "lo": lo, "width": width, "bins": bins}
            ).result_rows
            for tag, b, count in rows:
                if int(b) < 0:
                    nulls[int(tag)] += int(count)
                else:
                    counts[int(tag)][int(b)] = int(count)
            out.update(
                type="numeric",
                edges=[lo + i * width for i in range(bins + 1)],
                reference_counts=counts[0],
                current_counts=counts[1],
                reference_nulls=nulls[0],
                current_nulls=nulls[1],
            )
            return out
        if n:
            source, category = num_source, "if(isNaN(value), NULL, toString(value))"
        else:
            source, category = self.source("Cat", ref), "value"
        rows = self.store.query(
            sql("distribution_categorical", db, source=source, category=category), params
        ).result_rows
        if not rows:
            raise LookupError(
                f"no values of {side} feature {feature!r} of model {model!r} in the window or its reference"
            )
        totals: dict[str | None, list[int]] = {}
        for tag, cat, count in rows:
            totals.setdefault(cat, [0, 0])[int(tag)] += int(count)
        ranked = sorted(totals.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))
        shown, rest = ranked[:20], ranked[20:]
        categories = ["(null)" if c is None else str(c) for c, _ in shown]
        ref_counts = [v[0] for _, v in shown]
        cur_counts = [v[1] for _, v in shown]
        if rest:
            categories.append(f"({len(rest)} others)")
            ref_counts.append(sum(v[0] for _, v in rest))
            cur_counts.append(sum(v[1] for _, v in rest))
        out.update(type="categorical", categories=categories, reference_counts=ref_counts, current_counts=cur_counts)
        return out


def _surprising(count: float, n: int, expected: float) -> bool:
    """``count`` of ``n`` is far above what rate ``expected`` explains (binomial tail < 1e-4)."""
    from scipy import stats

    return n > 0 and count > 0 and float(stats.binom.sf(count - 1, n, min(max(expected, 1e-6), 1.0))) < 1e-4


def quality_issues(f: dict[str, Any]) -> list[str]:
    """Data-quality problems worth a finding: more nulls, values out of range, new categories.

    Each needs a rate of at least 5% (2% for new categories) and a count the reference cannot
    explain: with n reference values, a fresh value falls outside their range with probability
    2 / (n + 1), and in an unseen category with about 1 / (n + 1), even with no change at all.
    """
    issues: list[str] = []
    if not f["tested"] or f["n_reference"] < 200:  # the range of a small reference says little
        return issues
    n, m = f["n_reference"], f["n_current"]
    nulls = f["null_rate_current"]
    total = m / (1 - nulls) if nulls < 1 else m
    if nulls >= f["null_rate_reference"] + 0.05 and _surprising(
        nulls * total, round(total), f["null_rate_reference"] + 1 / (n + 1)
    ):
        issues.append(f"null rate {nulls:.1%} (reference {f['null_rate_reference']:.1%})")
    oor = f.get("out_of_range_rate", 0.0)
    if oor >= 0.05 and _surprising(round(oor * m), m, 2 / (n + 1)):
        issues.append(f"{oor:.1%} of values outside the reference range")
    new = f.get("new_category_rate", 0.0)
    if new >= 0.02 and _surprising(round(new * m), m, 1 / (n + 1)):
        issues.append(f"{new:.1%} of values in categories the reference never had")
    return issues


def _finite(v: Any) -> float:
    v = float(v) if v is not None else 0.0
    return v if math.isfinite(v) else 0.0

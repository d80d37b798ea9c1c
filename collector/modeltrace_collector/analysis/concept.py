"""Performance drops with ground truth, what carries the errors, and whether the inputs or the
relation between inputs and target changed.

For each model with ground truth, the labelled predictions of the last ``window`` are compared
with those of the ``reference`` before it: accuracy for a classifier (a one-sided
two-proportion test), the mean absolute error for a regressor (a one-sided z test on the
residuals). A drop of at least ``min_drop`` accuracy (or ``min_relative`` more error) beyond
chance (``significance``) is a ``performance`` finding. Rows of one call are not independent,
so when calls carry several labelled rows the tests count calls.

A finding is explained twice:

* *where the errors are*: the root-cause contrast (``rca.RootCause``) of wrongly predicted
  calls (for a regressor, calls whose mean absolute residual exceeds the reference's 80th
  percentile) against the others, over versions, hosts, resource attributes, batch sizes and
  every input feature, numeric ranges and categories;
* *why*: per input feature, the reference's error rate in each segment (a decile bin of a
  number, a category's value) weighted by the window's share of calls in that segment is the
  error rate the window would have if only the inputs had moved. When that accounts for at
  least half of the rise for some feature, the drop is input drift (calls moved to where the
  model was always weaker); otherwise the model is wrong more often at the same inputs:
  concept drift. Shifts that only show in combinations of features read as concept drift.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from ..config import PerformanceConfig
from ..storage.store import StoreView
from .performance import Performance, task_of
from .rca import RootCause
from .sqlfiles import sql

_DEFAULTS = PerformanceConfig()
SMOOTHING = 5.0  # pseudo-calls at the reference's overall rate, for a segment's rate
EXPLAINED = 0.5  # the share of the rise the inputs must account for to call it input drift


@dataclass(frozen=True)
class PerformanceSettings:
    window: float = _DEFAULTS.window_seconds
    reference: float = _DEFAULTS.reference_seconds
    min_calls: int = _DEFAULTS.min_calls
    min_drop: float = _DEFAULTS.min_drop
    min_relative: float = _DEFAULTS.min_relative
    significance: float = _DEFAULTS.significance

    @classmethod
    def of(cls, config: PerformanceConfig) -> PerformanceSettings:
        return cls(
            window=config.window_seconds,
            reference=config.reference_seconds,
            min_calls=config.min_calls,
            min_drop=config.min_drop,
            min_relative=config.min_relative,
            significance=config.significance,
        )


class PerformanceMonitor:
    def __init__(self, store: StoreView, rca: RootCause, settings: PerformanceSettings | None = None) -> None:
        self.store = store
        self.rca = rca
        self.s = settings or PerformanceSettings()

    def models(self, at_ms: int, model: str = "") -> list[str]:
        """Models with ground truth for predictions of the reference or the window."""
        start = at_ms - int((self.s.window + self.s.reference) * 1000)
        rows = self.store.query(sql("performance_models", self.store.database), {"start": start, "model": model})
        return [r[0] for r in rows.result_rows]

    def check(self, model: str, at_ms: int) -> dict[str, Any]:
        """The window's labelled predictions against the reference's: the metric on both sides,
        the test, and whether it dropped (``dropped``) or is still clearly down (``holding``)."""
        win_start = at_ms - int(self.s.window * 1000)
        params: dict[str, Any] = {
            "model": model,
            "start": win_start - int(self.s.reference * 1000),
            "end": at_ms,
            "win_start": win_start,
            "bucket_ms": int(self.s.window * 1000),
            "score_field": "score",
        }
        params["pred_field"] = Performance(self.store).prediction_field(params)
        db = self.store.database
        periods = {
            int(r["tag"]): r
            for r in self.store.query(
                sql("performance_periods", db, pairs=sql("performance_pairs", db)), params
            ).named_results()
        }
        out: dict[str, Any] = {"model": model, "params": params, "dropped": False, "holding": False}
        if 0 not in periods or 1 not in periods:
            return {**out, "note": "ground truth on one side only"}
        ref, cur = periods[0], periods[1]
        out["calls"] = {"reference": int(ref["calls"]), "window": int(cur["calls"])}
        if min(out["calls"].values()) < self.s.min_calls:
            return {**out, "note": f"too few labelled calls (min_calls {self.s.min_calls})"}
        numeric = not (ref["non_numeric"] or cur["non_numeric"])
        whole = not (ref["fractional"] or cur["fractional"])
        out["task"] = task_of(numeric, whole, max(ref["labels"], cur["labels"]))
        if out["task"] == "classification":
            return {**out, **self._accuracy(ref, cur)}
        return {**out, **self._error(ref, cur)}

    @staticmethod
    def _effective(row: dict[str, Any]) -> float:
        """Rows of one call are alike: batched calls count once each."""
        return float(min(row["n"], row["calls"]))

    def _accuracy(self, ref: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
        from scipy import stats

        p0, p1 = ref["wrong"] / ref["n"], cur["wrong"] / cur["n"]
        e0, e1 = self._effective(ref), self._effective(cur)
        pooled = (p0 * e0 + p1 * e1) / (e0 + e1)
        se = math.sqrt(max(pooled * (1 - pooled) * (1 / e0 + 1 / e1), 1e-300))
        p_value = float(stats.norm.sf((p1 - p0) / se))
        drop = p1 - p0
        return {
            "metric": "accuracy",
            "reference": 1 - p0,
            "window": 1 - p1,
            "p_value": p_value,
            "dropped": drop >= self.s.min_drop and p_value < self.s.significance,
            "holding": drop >= self.s.min_drop / 2 and p_value < 0.01,
            "summary": f"accuracy {1 - p1:.1%} vs {1 - p0:.1%} before ({int(cur['n'])} labelled predictions)",
        }

    def _error(self, ref: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
        from scipy import stats

        n0, n1 = float(ref["numeric_n"]), float(cur["numeric_n"])
        m0, m1 = ref["abs_sum"] / n0, cur["abs_sum"] / n1
        v0, v1 = max(ref["sq_sum"] / n0 - m0 * m0, 0.0), max(cur["sq_sum"] / n1 - m1 * m1, 0.0)
        se = math.sqrt(max(v0 / self._effective(ref) + v1 / self._effective(cur), 1e-300))
        p_value = float(stats.norm.sf((m1 - m0) / se))
        return {
            "metric": "mae",
            "reference": m0,
            "window": m1,
            "p_value": p_value,
            "residual_limit": float(ref["abs_p80"]),
            "dropped": m1 >= (1 + self.s.min_relative) * m0 and p_value < self.s.significance,
            "holding": m1 >= (1 + self.s.min_relative / 2) * m0 and p_value < 0.01,
            "summary": f"mean absolute error {m1:.4g} vs {m0:.4g} before ({int(cur['n'])} labelled predictions)",
        }

    def explain(self, check: dict[str, Any]) -> dict[str, Any]:
        """Where the errors are (root causes) and why (input drift or concept drift)."""
        started = time.perf_counter()
        params = check["params"]
        labels = {
            "pred_field": params["pred_field"],
            "score_field": params["score_field"],
            "task": check["task"],
            "residual_limit": check.get("residual_limit", 0.0),
        }
        rca = self.rca.analyze(
            check["model"],
            "",
            params["win_start"],
            params["end"],
            kind="performance",
            baseline_seconds=self.s.reference,
            labels=labels,
        )
        return {**rca, "concept": self.concept(check, labels), "seconds": time.perf_counter() - started}

    def concept(self, check: dict[str, Any], labels: dict[str, Any]) -> dict[str, Any]:
        """Would the window's error rate follow from its inputs alone? Per feature, the
        reference's rate per segment weighted by the window's segment shares."""
        db = self.store.database
        bad = "w.wrong = 1" if labels["task"] == "classification" else "w.abs_error > {residual_limit:Float64}"
        labelled = sql("performance_calls", db, pairs=sql("performance_pairs", db))
        rows = self.store.query(
            sql("concept_segments", db, labelled=labelled, bad=bad), {**check["params"], **labels}
        ).result_rows
        segments: dict[str, dict[str, list[float]]] = {}
        for feature, segment, tag, n, n_bad in rows:
            cell = segments.setdefault(feature, {}).setdefault(segment, [0.0, 0.0, 0.0, 0.0])
            cell[2 * int(tag)] += float(n)
            cell[2 * int(tag) + 1] += float(n_bad)
        accounts = [_explained(feature, cells) for feature, cells in segments.items()]
        by_feature = sorted((f for f in accounts if f is not None), key=lambda f: -f["explained_share"])
        if not by_feature:
            return {"verdict": "unknown", "note": "no input features sampled on labelled calls"}
        top = by_feature[0]
        if top["explained_share"] >= EXPLAINED:
            verdict = "input drift"
            text = (
                f"input drift: the calls moved to where the model was already weaker ({top['feature']}); at the "
                f"reference's error rate per {top['feature']} segment the window would see "
                f"{top['expected_rate']:.1%} bad predictions, it sees {top['observed_rate']:.1%} "
                f"(reference {top['reference_rate']:.1%})"
            )
        else:
            verdict = "concept drift"
            text = (
                f"concept drift: at the same inputs the model is wrong more often; the inputs' shifts account for at "
                f"most {max(top['explained_share'], 0.0):.0%} of the rise from {top['reference_rate']:.1%} to "
                f"{top['observed_rate']:.1%} bad predictions (best: {top['feature']})"
            )
        return {"verdict": verdict, "summary": text, "by_feature": by_feature[:10]}


def _explained(feature: str, cells: dict[str, list[float]]) -> dict[str, Any] | None:
    """One feature's account of the rise: cells map a segment to [n_ref, bad_ref, n_win, bad_win]."""
    n0 = sum(c[0] for c in cells.values())
    n1 = sum(c[2] for c in cells.values())
    if not n0 or not n1:
        return None
    r = sum(c[1] for c in cells.values()) / n0
    o = sum(c[3] for c in cells.values()) / n1
    expected = sum(c[2] / n1 * (c[1] + SMOOTHING * r) / (c[0] + SMOOTHING) for c in cells.values())
    share = (expected - r) / (o - r) if o > r else 0.0
    return {
        "feature": feature,
        "reference_rate": r,
        "observed_rate": o,
        "expected_rate": expected,
        "explained_share": share,
    }

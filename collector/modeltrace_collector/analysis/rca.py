"""Root-cause correlation for an anomaly window.

The calls of the anomaly window that are slow (above the baseline's p95) or failed are the
*target*; everything else (the baseline window and the window's other calls) is *normal*.
Candidates come from every dimension the data holds, all scored on one scale:

* attributes (version, host, any resource attribute, batch-size bucket, an input feature out of
  its usual range): share of target calls carrying the value minus its share of normal calls
  (BubbleUp's selection-vs-baseline contrast), with a two-proportion z-test. A value the target
  calls share no more than normal calls scores 0, whatever its raw count;
* pairs of the strongest attributes (a version on one host) when the pair explains more than
  either alone;
* locations (child spans, profiled functions): the part of the latency growth a step accounts
  for beyond its usual part of the time, so a step that grew with everything else scores 0 and
  one that grew alone scores high.

Change events (a version or host first seen shortly before or during the anomaly: a deploy,
new capacity) rank above symptoms that merely correlate with them.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from ..config import AnomalyConfig
from ..storage.store import StoreView
from .sqlfiles import ROWS_BUCKET, sql

CHANGE_DIMENSIONS = ("model.version", "host.name")
CHANGE_BONUS = 0.5
CHANGE_MIN_SCORE = 0.3
RANKING = (
    f"by rank_score: the score, plus {CHANGE_BONUS} for a change (a new version or host) whose score is "
    f"{CHANGE_MIN_SCORE} or more; a step or function on top yields to a value that holds 80% or more of the "
    "slow calls (the cause, the step its mechanism)"
)


@dataclass(frozen=True)
class RcaSettings:
    baseline_seconds: float = AnomalyConfig().rca_baseline_seconds
    window_seconds: float = AnomalyConfig().rca_window_seconds  # an episode's first minutes
    min_target: int = 3
    max_p: float = 1e-3
    min_score: float = 0.15
    top: int = 5


def _what(kind: str) -> str:
    """The target calls, in words."""
    return {"error_rate": "failed", "performance": "wrongly predicted"}.get(kind, "slow")


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _contrast(t: int, tt: int, n: int, nn: int, b: int, bb: int) -> dict[str, float]:
    """A value held by ``t`` of ``tt`` target calls, ``n`` of ``nn`` normal calls and ``b`` of
    ``bb`` baseline calls: its shares, the score (target share minus normal share) and the
    two-proportion test of target against normal."""
    share_t, share_n = t / tt, n / nn if nn else 0.0
    z, p = _two_proportion(t, tt, n, nn)
    return {
        "score": share_t - share_n,
        "p_value": p,
        "z": z,
        "target_share": share_t,
        "normal_share": share_n,
        "baseline_share": b / bb if bb else 0.0,
    }


def _two_proportion(t: int, tn: int, n: int, nn: int) -> tuple[float, float]:
    """z and two-sided p for share t/tn against n/nn."""
    from scipy import stats

    if tn == 0 or nn == 0:
        return 0.0, 1.0
    p = (t + n) / (tn + nn)
    se = math.sqrt(max(p * (1 - p) * (1 / tn + 1 / nn), 1e-300))
    z = (t / tn - n / nn) / se
    return z, float(2 * stats.norm.sf(abs(z)))


MECHANISMS = ("step", "function")  # where the time goes, not why
CONCENTRATION = 0.8  # a value held by this share of the slow calls (and far fewer normal ones) is their cause


def _causes_over_symptoms(ranked: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A step or function on top says where the time went, not why. When the slow calls
    concentrate on one value of a dimension (a host, a version, a region, an input's range),
    that value is the cause and the step its mechanism: the value goes first, saying both
    ("node-2: its fetch_features step went from 3.0 to 18.0 ms"), and the step stays second."""
    if not ranked or ranked[0]["type"] not in MECHANISMS:
        return ranked
    mechanism = ranked[0]
    concentrated = [
        c
        for c in ranked
        if c["type"] not in MECHANISMS
        and c.get("target_share", 0.0) >= CONCENTRATION
        and c.get("target_share", 0.0) - c.get("normal_share", 1.0) >= CONCENTRATION / 2
    ]
    if not concentrated:
        return ranked
    cause = max(concentrated, key=lambda c: c["score"])
    how = f"its {mechanism['value']} {mechanism['dimension']} went from {mechanism['before_ms']:.1f} to " + (
        f"{mechanism['after_ms']:.1f} ms per call"
    )
    promoted = {
        **cause,
        "rank_score": mechanism["rank_score"] + 0.01,
        "mechanism": f"{mechanism['dimension']}={mechanism['value']}",
        "evidence": f"{cause['value']}: {how}; {cause['evidence']}",
    }
    return [promoted, *(c for c in ranked if c is not cause)]


def _merge_twins(ranked: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An attribute that splits the calls exactly as a better-ranked candidate does (a process
    id beside "this version on this host") names the same calls: it is folded into that
    candidate's evidence instead of taking a rank of its own."""
    out: list[dict[str, Any]] = []
    for c in ranked:
        shares = (c.get("target_share"), c.get("normal_share"))
        twin = None
        if c["type"] == "attribute" and None not in shares:
            twin = next((o for o in out if (o.get("target_share"), o.get("normal_share")) == shares), None)
        if twin is None:
            out.append(c)
            continue
        name = f"{c['dimension']}={c['value']}"
        twin.setdefault("same_calls", []).append(name)
        twin["evidence"] += f" (the same calls as {name})"
    return out


class RootCause:
    def __init__(self, store: StoreView, settings: RcaSettings | None = None) -> None:
        self.store = store
        self.s = settings or RcaSettings()

    def _calls(self, params: dict[str, Any]) -> str:
        """rca_calls for the analysis at hand: its target condition, and for a performance drop
        only the calls with ground truth."""
        db = self.store.database
        kind = params["kind"]
        if kind != "performance":
            failed = "StatusCode IN ('Error', 'STATUS_CODE_ERROR')"
            target = failed if kind == "error_rate" else "Duration > {slow_ns:UInt64}"
            return sql("rca_calls", db, target=target, labelled="")
        labelled = sql("performance_calls", db, pairs=sql("performance_pairs", db))
        target = "w.wrong = 1" if params["task"] == "classification" else "w.abs_error > {residual_limit:Float64}"
        return sql("rca_calls", db, target=target, labelled=f"INNER JOIN ({labelled}) AS w ON w.span = SpanId")

    def _q(self, name: str, params: dict[str, Any], **tokens: str) -> list[dict[str, Any]]:
        query = sql(name, self.store.database, calls=self._calls(params), **tokens)
        return list(self.store.query(query, params).named_results())

    def analyze(
        self,
        model: str,
        operation: str,
        win_start_ms: int,
        win_end_ms: int,
        kind: str = "latency",
        version: str = "",
        baseline_seconds: float | None = None,
        labels: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Causes of slow (latency), failed (error_rate) or, with ``labels`` (pred_field,
        score_field, task and for a regressor residual_limit), wrongly predicted (performance)
        calls of the window against the rest of the window and the baseline before it."""
        base_start = win_start_ms - int((baseline_seconds or self.s.baseline_seconds) * 1000)
        db = self.store.database
        slow_ns = 0
        if kind == "latency":
            slow = self.store.query(
                sql("rca_baseline_p95", db),
                {"model": model, "operation": operation, "s": base_start, "e": win_start_ms},
            ).result_rows[0]
            slow_ns = int(slow[0] or 0) if slow[1] else 0
        params = {
            "model": model,
            "operation": operation,
            "version": version,
            "win_start": win_start_ms,
            "win_end": win_end_ms,
            "base_start": base_start,
            "kind": kind,
            "slow_ns": slow_ns,
            # the ground-truth pairs of a performance drop, over the baseline and the window
            "start": base_start,
            "end": win_end_ms,
            "bucket_ms": 60_000,
            "pred_field": "",
            "score_field": "",
            "task": "",
            "residual_limit": 0.0,
            **(labels or {}),
        }
        dims = self._q("rca_dimensions", params)
        totals = self._totals(dims)
        result: dict[str, Any] = {
            "model": model,
            "operation": operation,
            "kind": kind,
            "window": {"start_ms": win_start_ms, "end_ms": win_end_ms},
            "baseline": {"start_ms": base_start, "calls": totals["baseline"], "slow_threshold_ms": slow_ns / 1e6},
            "target_calls": totals["target"],
        }
        if totals["target"] < self.s.min_target:
            return {**result, "causes": [], "note": f"too few {_what(kind)} calls in the window to compare"}
        first_seen = self._first_seen(model)
        candidates = self._attributes(dims, totals, first_seen, base_start, win_start_ms, kind)
        candidates += self._categories(params, kind)
        candidates += self._pairs(candidates, params, totals, kind)  # attributes and categories, two at a time
        candidates += self._features(params, kind)
        if kind == "latency":
            candidates += self._steps(params)
            candidates += self._hotspots(params)
        kept = [c for c in candidates if c["score"] >= self.s.min_score and c.get("p_value", 0.0) <= self.s.max_p]
        for c in kept:
            c["rank_score"] = c["score"] + (CHANGE_BONUS if c.get("change") and c["score"] >= CHANGE_MIN_SCORE else 0.0)
        kept.sort(key=lambda c: -c["rank_score"])
        return {**result, "causes": _merge_twins(_causes_over_symptoms(kept))[: self.s.top], "ranking": RANKING}

    @staticmethod
    def _totals(dims: list[dict[str, Any]]) -> dict[str, Any]:
        # every call has exactly one model.version value, so that dimension's sums are the totals
        rows = [d for d in dims if d["dimension"] == "model.version"]
        return {
            "target": sum(int(d["target_calls"]) for d in rows),
            "normal": sum(int(d["normal_calls"]) for d in rows),
            "baseline": sum(int(d["baseline_calls"]) for d in rows),
            "window": sum(int(d["window_calls"]) for d in rows),
            "baseline_p99_ms": max((float(d["baseline_p99_ms"]) for d in rows if d["baseline_calls"]), default=0.0),
        }

    def _first_seen(self, model: str) -> dict[str, int]:
        rows = self.store.query(sql("versions_first_seen", self.store.database), {"model": model}).result_rows
        return {r[0]: int(r[1]) for r in rows}

    def _attributes(
        self,
        dims: list[dict[str, Any]],
        totals: dict[str, int],
        first_seen: dict[str, int],
        base_start: int,
        win_start: int,
        kind: str,
    ) -> list[dict[str, Any]]:
        what = _what(kind)
        out = []
        for d in dims:
            t, n = int(d["target_calls"]), int(d["normal_calls"])
            if t < self.s.min_target:
                continue
            stats = _contrast(t, totals["target"], n, totals["normal"], int(d["baseline_calls"]), totals["baseline"])
            dim, value = d["dimension"], d["value"]
            seen = first_seen.get(value, int(d["first_seen_ms"])) if dim == "model.version" else int(d["first_seen_ms"])
            # first seen after the baseline began: the value arrived with (or just before) the trouble
            change = dim in CHANGE_DIMENSIONS and seen > base_start + 60_000
            label = {"model.version": "version", "host.name": "host", "input.rows": "batch size"}.get(dim, dim)
            shown = f"{value} rows" if dim == "input.rows" else value
            text = (
                f"{label} {shown} carries {_pct(stats['target_share'])} of {what} calls "
                f"vs {_pct(stats['baseline_share'])} of baseline calls"
            )
            if kind == "latency" and d["window_calls"] and totals["baseline_p99_ms"]:
                delta = float(d["window_p99_ms"]) - totals["baseline_p99_ms"]
                text += f"; p99 {float(d['window_p99_ms']):.1f} ms ({delta:+.1f} ms)"
            if change:
                text += f"; first seen {_when_first_seen(seen, win_start)}"
            out.append(
                {
                    "type": "change" if change else "attribute",
                    "dimension": dim,
                    "value": value,
                    "change": change,
                    **stats,
                    "window_p99_ms": float(d["window_p99_ms"]) if d["window_calls"] else None,
                    "first_seen_ms": seen,
                    "evidence": text,
                }
            )
        return out

    def _pairs(
        self, singles: list[dict[str, Any]], params: dict[str, Any], totals: dict[str, int], kind: str
    ) -> list[dict[str, Any]]:
        strong = sorted((c for c in singles if c["score"] >= 0.2), key=lambda c: -c["score"])
        picked: list[dict[str, Any]] = []
        for c in strong:
            if all(c["dimension"] != p["dimension"] for p in picked):
                picked.append(c)
            if len(picked) == 4:
                break
        out = []
        for i, a in enumerate(picked):
            for b in picked[i + 1 :]:
                pair = sql(
                    "rca_pair",
                    self.store.database,
                    calls=self._calls(params),
                    match_a=self._match("a", a),
                    match_b=self._match("b", b),
                    input_a=self._input_join("a", a),
                    input_b=self._input_join("b", b),
                )
                row = self.store.query(
                    pair,
                    {
                        **params,
                        "dim_a": a["dimension"],
                        "val_a": a["value"],
                        "dim_b": b["dimension"],
                        "val_b": b["value"],
                        "feature_a": a["dimension"].removeprefix("input."),
                        "feature_b": b["dimension"].removeprefix("input."),
                    },
                ).result_rows[0]
                t, n, base = int(row[0]), int(row[1]), int(row[2])
                if t < self.s.min_target:
                    continue
                stats = _contrast(t, totals["target"], n, totals["normal"], base, totals["baseline"])
                if stats["score"] <= max(a["score"], b["score"]) + 0.05:
                    continue  # the pair adds nothing over its parts
                what = _what(kind)
                out.append(
                    {
                        "type": "change" if (a["change"] or b["change"]) else "attribute",
                        "dimension": f"{a['dimension']} + {b['dimension']}",
                        "value": f"{a['value']} + {b['value']}",
                        "change": a["change"] or b["change"],
                        **stats,
                        "evidence": f"{a['dimension']}={a['value']} on {b['dimension']}={b['value']} carries "
                        f"{_pct(stats['target_share'])} of {what} calls "
                        f"vs {_pct(stats['normal_share'])} of normal calls",
                    }
                )
        return out

    def _input_join(self, side: str, cause: dict[str, Any]) -> str:
        """The join that brings a categorical input's value per call, for a pair with one."""
        return sql("rca_input_value", self.store.database, side=side) if cause["type"] == "input" else ""

    @staticmethod
    def _match(side: str, cause: dict[str, Any]) -> str:
        if cause["type"] == "input":
            return f"i{side}.v = {{val_{side}:String}}"
        return (
            f"multiIf({{dim_{side}:String}} = 'model.version', ModelVersion, "
            f"{{dim_{side}:String}} = 'host.name', HostName, "
            f"{{dim_{side}:String}} = 'input.rows', {ROWS_BUCKET}, "
            f"ResourceAttributes[{{dim_{side}:String}}]) = {{val_{side}:String}}"
        )

    def _features(self, params: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        what = _what(kind)
        out = []
        for r in self._q("rca_features", params):
            tt, nn = int(r["target_calls"]), int(r["normal_calls"])
            if tt < self.s.min_target or not r["baseline_calls"]:
                continue
            for side, word, bound in (("high", "above", 1), ("low", "below", 0)):
                t, n = int(r[f"target_{side}"]), int(r[f"normal_{side}"])
                stats = _contrast(t, tt, n, nn, int(r[f"baseline_{side}"]), int(r["baseline_calls"]))
                limit = float(r["limits"][bound])
                out.append(
                    {
                        "type": "input",
                        "dimension": f"input.{r['feature']}",
                        "value": f"{word} {limit:.4g}",
                        "change": False,
                        **stats,
                        "evidence": f"input feature {r['feature']} is {word} {limit:.4g} (its baseline "
                        f"{'p95' if side == 'high' else 'p5'}) in {_pct(stats['target_share'])} of {what} calls "
                        f"vs {_pct(stats['normal_share'])} of normal calls",
                    }
                )
        return out

    def _categories(self, params: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        """Categorical inputs as causes: a value (region=eu, channel=partner) held by far more
        slow or failed calls than normal ones."""
        what = _what(kind)
        out = []
        for r in self._q("rca_categories", {**params, "min_target": self.s.min_target}):
            tt, nn, bb = int(r["target_calls"]), int(r["normal_calls"]), int(r["baseline_calls"])
            if tt < self.s.min_target or not bb:
                continue
            stats = _contrast(int(r["target_with"]), tt, int(r["normal_with"]), nn, int(r["baseline_with"]), bb)
            out.append(
                {
                    "type": "input",
                    "dimension": f"input.{r['feature']}",
                    "value": str(r["value"]),
                    "change": False,
                    **stats,
                    "evidence": f"input {r['feature']}={r['value']} in {_pct(stats['target_share'])} of {what} "
                    f"calls vs {_pct(stats['normal_share'])} of normal calls "
                    f"({_pct(stats['baseline_share'])} in the baseline)",
                }
            )
        return out

    def _location(
        self, rows: list[dict[str, Any]], key: str, count: str, kind: str, label: str
    ) -> list[dict[str, Any]]:
        by_name: dict[str, dict[bool, dict[str, Any]]] = {}
        sets: dict[bool, tuple[int, float]] = {}
        for r in rows:
            by_name.setdefault(r[key], {})[bool(r["target"])] = r
            sets[bool(r["target"])] = (int(r[count]), float(r["parent_ms"]))
        if True not in sets or False not in sets:
            return []
        (nt, pt), (nb, pb) = sets[True], sets[False]
        if nt < self.s.min_target or nb < self.s.min_target:
            return []
        mean_t, mean_b = pt / nt, pb / nb
        growth = mean_t - mean_b
        if growth <= 0:
            return []
        out = []
        for name, parts in by_name.items():
            step_t = float(parts[True][kind]) / nt if True in parts else 0.0
            step_b = float(parts[False][kind]) / nb if False in parts else 0.0
            explained = (step_t - step_b) / growth
            usual = step_b / mean_b if mean_b else 0.0
            out.append(
                {
                    "type": label,
                    "dimension": label,
                    "value": name,
                    "change": False,
                    "score": explained - usual,
                    "explained": explained,
                    "baseline_time_share": usual,
                    "before_ms": step_b,
                    "after_ms": step_t,
                    "evidence": f"{label} {name}: {step_b:.1f} -> {step_t:.1f} ms per call "
                    f"({step_t - step_b:+.1f} ms), "
                    f"{_pct(explained)} of the latency growth while it takes {_pct(usual)} of baseline time",
                }
            )
        return out

    def _steps(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._location(self._q("rca_steps", params), "step", "parents", "child_ms", "step")

    def _hotspots(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        rows = self._q("rca_hotspots", params)
        return self._location(rows, "function", "profiled_calls", "self_ms", "function")


def _when_first_seen(seen_ms: int, start_ms: int) -> str:
    """When a value first appeared, relative to the start of the trouble."""
    clock = dt.datetime.fromtimestamp(seen_ms / 1000, dt.timezone.utc).strftime("%H:%M UTC")
    ago = round((start_ms - seen_ms) / 60_000)
    if ago == 0:
        return f"at {clock}, as the trouble began"
    return f"at {clock}, {abs(ago)} min {'before' if ago > 0 else 'after'} the trouble began"

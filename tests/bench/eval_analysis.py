"""Evaluation of the analysis against scenarios with known ground truth (``make bench``).

Every scenario (see ``scenarios.py``; each fault at full and at mild strength, drift-only
shifts, no-fault controls) is pushed over OTLP/gRPC into a real collector (chDB), then the
analysis is run minute by minute through the fault, as the scheduler would. Prints: anomaly
precision, recall and detection delay, root-cause top-1/top-3 accuracy (per strength), alerts
on no-fault controls, drift recall (shifts with PSI >= 0.2) and false-positive rate; then the
speed of drift over 10M feature values in chDB against pulling the same rows into numpy/scipy.

    python tests/bench/eval_analysis.py [--seeds 3] [--skip-speed] [--skip-scenarios] [--skip-nab]
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


from tests.bench.scenarios import (  # noqa: E402
    DETECT_ONLY,
    FAULTS,
    LABELLED,
    MINUTE_NS,
    Scenario,
    matches,
    requests,
    send,
)
from tests.integration.collector_proc import CollectorProcess  # noqa: E402

DRIFT_SHIFTS = (0.15, 0.3, 0.5, 0.8)
QUIET = ("control", "drift_only", "noop_deploy")  # nothing slows down or fails
MILD = 0.3


def fetch(collector: CollectorProcess, path: str) -> Any:
    status, body = collector.get(path)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {body}")
    return body


def build(seeds: int) -> list[Scenario]:
    """Every fault at full and at mild strength, drift-only shifts and controls, per seed."""
    start = int(dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc).timestamp() * 1e9)
    out = []
    for seed in range(seeds):
        for fault in FAULTS:
            out.append(Scenario(fault, 1000 * seed + FAULTS.index(fault), f"{fault}-{seed}", start))
            if fault not in QUIET and fault != "traffic_drop":  # a milder traffic drop is no drop
                name = f"{fault}-mild-{seed}"
                out.append(Scenario(fault, 1000 * seed + 50 + FAULTS.index(fault), name, start, strength=MILD))
        for shift in DRIFT_SHIFTS:
            seed_ = 1000 * seed + 100 + DRIFT_SHIFTS.index(shift)
            out.append(Scenario("drift_only", seed_, f"drift-{shift}-{seed}", start, drift_shift=shift))
    return out


def evaluate(seeds: int) -> None:
    scenarios = build(seeds)
    fault_minutes = scenarios[0].fault_minutes
    with tempfile.TemporaryDirectory() as tmp:
        collector = CollectorProcess(
            tmp,
            "analysis.enabled=false",
            f"drift.window_seconds={fault_minutes * 60}",
            f"performance.window_seconds={fault_minutes * 60}",
            "log_level=warning",
        ).start()
        try:
            t = time.perf_counter()
            total = 0
            for sc in scenarios:
                send(collector.grpc_endpoint, requests(sc))
                total += sc.calls_sent
            collector.wait_stored("ml_predictions", total, timeout=600)
            time.sleep(2)
            print(
                f"{len(scenarios)} scenarios, {total} calls ({4 * total} spans) "
                f"stored in {time.perf_counter() - t:.0f} s"
            )
            results = [run_scenario(collector, sc) for sc in scenarios]
            passes = whole_passes(collector, scenarios)
        finally:
            collector.stop()
    report(results)
    models = len(scenarios)
    print(
        f"\none analysis pass over all {models} models (every version, drift, traffic, performance): "
        f"{passes[0]:.1f} s the first time, then {passes[1]:.1f} s and {passes[2]:.1f} s "
        "(the scheduler runs one a minute)"
    )


def whole_passes(collector: CollectorProcess, scenarios: list[Scenario]) -> list[float]:
    """Three scheduler passes over every model at once, a minute apart, at the faults' end."""
    end = max(sc.end_ns for sc in scenarios) // 1_000_000 + 60_000
    out = []
    for k in range(3):
        t = time.perf_counter()
        collector.post(f"/api/analysis/run?at={end + k * 60_000}")
        out.append(time.perf_counter() - t)
    return out


def run_scenario(collector: CollectorProcess, sc: Scenario) -> dict[str, Any]:
    opened: list[tuple[int, dict[str, Any]]] = []
    last: dict[str, dict[str, Any]] = {}
    seconds = []
    for k in range(1, sc.fault_minutes + 1):
        at = (sc.fault_start_ns + k * MINUTE_NS) // 1_000_000
        t = time.perf_counter()
        result = collector.post(f"/api/analysis/run?at={at}&model={sc.model}")
        seconds.append(time.perf_counter() - t)
        for f in result["opened"]:
            opened.append((k, f))
            last[f["id"]] = f
    # the root causes as stored at the end of the fault
    for fid in list(last):
        last[fid] = fetch(collector, f"/api/findings/{fid}")
    drift = fetch(collector, f"/api/drift?model={sc.model}&at={sc.end_ns // 1_000_000}")
    return {"scenario": sc, "opened": opened, "final": last, "drift": drift, "run_seconds": seconds}


def anomaly_quality(results: list[dict[str, Any]], label: str) -> None:
    """Detection and root-cause figures over the scenarios with a latency or error fault."""
    tp = fp = 0
    delays, detected = [], 0
    top1 = top3 = top1_first = 0
    concept_ok = concept_n = 0
    rows = []
    for r in results:
        sc = r["scenario"]
        anomalies = [(k, f) for k, f in r["opened"] if f["kind"] in ("latency", "error_rate", "performance")]
        wanted = {"error_burst": "error_rate", **dict.fromkeys(LABELLED, "performance")}.get(sc.fault, "latency")
        hits = [(k, f) for k, f in anomalies if f["kind"] == wanted]
        tp += len(hits)
        fp += len(anomalies) - len(hits)
        if not hits:
            rows.append((sc.model, "missed", "", ""))
            continue
        detected += 1
        k, first = hits[0]
        delays.append(k)
        causes = r["final"][first["id"]]["evidence"].get("root_causes", [])
        first_causes = first["evidence"].get("root_causes", [])
        ok1 = bool(causes) and matches(causes[0], sc.fault)
        ok3 = any(matches(c, sc.fault) for c in causes[:3])
        top1 += ok1
        top3 += ok3
        top1_first += bool(first_causes) and matches(first_causes[0], sc.fault)
        verdict = "yes" if ok1 else ("top-3" if ok3 else "NO")
        shown = causes[0]["evidence"] if causes else "-"
        if sc.fault in LABELLED:
            said = r["final"][first["id"]]["evidence"].get("concept", {}).get("verdict", "")
            concept_ok += said == LABELLED[sc.fault]
            concept_n += 1
            shown = f"[{said}] {shown}"
        rows.append((sc.model, f"{k} min", verdict, shown))
    n = len(results)
    print(f"\n== {label}: detection delay, root cause top-1, the top cause")
    for row in rows:
        print(f"  {row[0]:<26} {row[1]:<7} {row[2]:<6} {row[3][:104]}")
    print(f"anomaly recall              {detected}/{n} = {detected / max(n, 1):.0%}")
    print(f"anomaly precision           {tp}/{tp + fp} = {tp / max(tp + fp, 1):.0%}")
    if delays:
        print(f"detection delay (minutes)   median {np.median(delays):.0f}, max {max(delays)}  (runs every minute)")
    print(f"root cause top-1            {top1}/{detected} = {top1 / max(detected, 1):.0%}   (target >= 90%)")
    print(f"root cause top-3            {top3}/{detected} = {top3 / max(detected, 1):.0%}   (target 100%)")
    print(f"root cause top-1 at first detection  {top1_first}/{detected} = {top1_first / max(detected, 1):.0%}")
    if concept_n:
        print(f"concept or input drift said right   {concept_ok}/{concept_n}   (accuracy drops with ground truth)")


def detection_only(results: list[dict[str, Any]]) -> None:
    """Faults with no cause to name (a one-minute spike, lost traffic): found, how fast, how said."""
    print("\n== spikes and traffic drops: detection")
    found = 0
    for r in results:
        sc = r["scenario"]
        wanted = DETECT_ONLY[sc.fault]
        hits = [(k, f) for k, f in r["opened"] if f["kind"] == wanted]
        others = [f["kind"] for _, f in r["opened"] if f["kind"] != wanted]
        if not hits:
            print(f"  {sc.model:<26} missed   other findings: {others}")
            continue
        found += 1
        k, f = hits[0]
        spike = " spike" if f["evidence"].get("spike") else ""
        print(f"  {sc.model:<26} {k} min   {f['severity']}{spike}: {f['evidence']['summary'][:80]}  other: {others}")
    print(f"detected                    {found}/{len(results)}")


def report(results: list[dict[str, Any]]) -> None:
    faults = [r for r in results if r["scenario"].fault not in QUIET and r["scenario"].fault not in DETECT_ONLY]
    detection_only([r for r in results if r["scenario"].fault in DETECT_ONLY])
    anomaly_quality([r for r in faults if r["scenario"].strength == 1.0], "faults at full strength")
    anomaly_quality([r for r in faults if r["scenario"].strength != 1.0], f"mild faults (strength {MILD})")
    quiet = [r for r in results if r["scenario"].fault in QUIET]
    print("\n== no latency or error fault")
    loud = ("latency", "error_rate", "traffic_drop", "performance")
    anomalies = sum(1 for r in quiet for _, f in r["opened"] if f["kind"] in loud)
    print(f"latency/error findings on controls, drift-only scenarios and no-change deploys  {anomalies}   (target 0)")
    controls = [r for r in results if r["scenario"].fault == "control"]
    print(f"findings of any kind on no-fault controls  {sum(len(r['opened']) for r in controls)}   (target 0)")
    deploys = [r for r in results if r["scenario"].fault == "noop_deploy"]
    chance = [f"{f['model']} {f['subject']} at {k} min" for r in deploys for k, f in r["opened"]]
    print(
        f"findings of any kind in the 20 minutes after a no-change deploy (batched calls)  "
        f"{len(chance)} over {len(deploys)} deploys   (target 0) {chance[:6]}"
    )
    # drift: every input feature of every scenario at the end of its fault, against the truth
    shifted_hits = shifted_total = clean_flags = clean_total = 0
    small = []
    for r in results:
        sc = r["scenario"]
        truth = {"drifted_feature": "f2", "drift_only": "f2"}.get(sc.fault)
        for rep in r["drift"]["reports"]:
            for f in rep["features"]:
                if f["side"] != "input" or not f["tested"]:
                    continue
                if f["feature"] == truth:
                    if f["metrics"]["psi"] >= 0.2:
                        shifted_total += 1
                        shifted_hits += f["drifted"]
                    else:
                        small.append((round(f["metrics"]["psi"], 3), f["drifted"]))
                else:
                    clean_total += 1
                    clean_flags += f["drifted"]
    runs = [s for r in results for s in r["run_seconds"]]
    print("\n== drift")
    print(
        f"drift recall, PSI >= 0.2    {shifted_hits}/{shifted_total} = "
        f"{shifted_hits / max(shifted_total, 1):.0%}   (target >= 95%)"
    )
    print(
        f"drift false-positive rate   {clean_flags}/{clean_total} = "
        f"{clean_flags / max(clean_total, 1):.1%} of unshifted features"
    )
    print(f"shifts with PSI < 0.2 (psi, flagged): {sorted(small)}")
    print(f"\nanalysis run time per model  median {np.median(runs):.2f} s, max {max(runs):.2f} s")


def speed(total_values: int = 10_000_000, features: int = 10) -> None:
    """Drift over ``total_values`` feature values: in chDB against pulling rows into numpy/scipy."""
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    from modeltrace_collector.analysis.drift import DriftAnalyzer, DriftSettings
    from modeltrace_collector.storage.client import resolve
    from modeltrace_collector.storage.migrate import SchemaOptions
    from modeltrace_collector.storage.store import Store
    from tests.collector.features import insert_values

    per_side = total_values // features // 2
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(resolve(f"chdb://{tmp}/chdb", tmp), SchemaOptions(database="speed"))
        store.migrate()
        rng = np.random.default_rng(0)
        t0 = dt.datetime(2026, 10, 1)
        for tag in (0, 1):
            values = {f"f{i}": rng.normal(0.1 * i * tag, 1, per_side) for i in range(features)}
            insert_values(store, t0 + dt.timedelta(hours=2 * tag), "big", "1", "input", num=values, spans=10_000)
        store.client.command("OPTIMIZE TABLE speed.ml_features FINAL")
        end_ms = int((t0 + dt.timedelta(hours=3)).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
        analyzer = DriftAnalyzer(store, DriftSettings(window=3600, reference_window=7200))
        analyzer.analyze("big", "1", end_ms=end_ms)  # warm
        chdb_times = []
        for _ in range(3):
            t = time.perf_counter()
            rep = analyzer.analyze("big", "1", end_ms=end_ms)
            chdb_times.append(time.perf_counter() - t)
        counted = sum(f["n_reference"] + f["n_current"] for f in rep["features"])
        py_times = []
        for _ in range(3):
            t = time.perf_counter()
            res = store.query(
                "SELECT feature, value, Timestamp >= {s:DateTime64(3)} AS cur FROM speed.ml_features "
                "ARRAY JOIN NumFeature AS feature, NumValue AS value WHERE ModelName = 'big'",
                {"s": t0 + dt.timedelta(hours=2)},
            )
            cols_np = res.result_columns
            feature = np.asarray(cols_np[0])
            value = np.asarray(cols_np[1], dtype=float)
            cur = np.asarray(cols_np[2], dtype=bool)
            for name in np.unique(feature):
                sel = feature == name
                r, c = value[sel & ~cur], value[sel & cur]
                stats.ks_2samp(r, c)
                stats.wasserstein_distance(r, c) / np.std(r)
                edges = np.unique(np.quantile(r, np.arange(1, 10) / 10))
                rb = np.bincount(np.searchsorted(edges, r), minlength=len(edges) + 1) / len(r)
                cb = np.bincount(np.searchsorted(edges, c), minlength=len(edges) + 1) / len(c)
                jensenshannon(rb, cb)
            py_times.append(time.perf_counter() - t)
        store.close()
    c, p = min(chdb_times), min(py_times)
    print(f"\n== drift speed: {counted:,} feature values, {features} features (best of 3)")
    print(f"{'in chDB (two SQL passes, summaries back)':<48} {c:7.2f} s")
    print(f"{'rows pulled into numpy + scipy':<48} {p:7.2f} s")
    print(f"{'ratio (pull / in-database)':<48} {p / c:7.2f}x   (target: in-database < 1 s)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-scenarios", action="store_true")
    parser.add_argument("--skip-nab", action="store_true")
    args = parser.parse_args()
    if not args.skip_scenarios:
        evaluate(args.seeds)
    if not args.skip_nab:
        from tests.bench.nab import nab_table

        print("\n== the Numenta Anomaly Benchmark, replayed through a collector (tests/bench/nab.py)")
        nab_table()
    if not args.skip_speed:
        speed()
    return 0


if __name__ == "__main__":
    sys.exit(main())

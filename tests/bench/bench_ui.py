"""The web UI's speed on a big store: each page's API calls and the page in headless Chromium.

Run with ``make bench`` (or ``python tests/bench/bench_ui.py``). The store holds at least
5 million spans over 7 days and 50 models (``tests/bench/ui_store.py``, cached in
/tmp/modeltrace-bench-cache for 6 hours), with findings from three analysis passes and one
trace of 10,000 spans. A collector serves it; then, for every page, the API calls that page
makes (the same routes and parameters as ``collector/modeltrace_collector/ui/*.js``) are timed
``--rounds`` times each, and Chromium opens the page ``--loads`` times and waits until it is
usable (everything it draws has loaded: ``main[data-state=ready]``).

Targets (issue 13): every API call under 300 ms at p95, every page usable under 1 s, the
10,000-span trace drawn under 2 s. Prints one row per page, and which targets are missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from tests.bench import ui_store  # noqa: E402

API_TARGET_S = 0.300
PAGE_TARGET_S = 1.0
TRACE_TARGET_S = 2.0
CHROMIUM = "/usr/bin/chromium"
READY = "() => document.getElementById('page').dataset.state === 'ready'"  # the page has drawn what it loads


def get(api: str, path: str, params: dict[str, Any] | None = None) -> tuple[float, Any]:
    url = api + path + ("?" + urllib.parse.urlencode(params) if params else "")
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as answer:
        body = answer.read()
    return time.perf_counter() - started, json.loads(body)


def post(api: str, path: str, payload: dict[str, Any]) -> tuple[float, Any]:
    request = urllib.request.Request(
        api + path, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as answer:
        body = answer.read()
    return time.perf_counter() - started, json.loads(body)


def pages(api: str) -> list[dict[str, Any]]:
    """Each page: its URL and the API calls it makes, as the UI's JavaScript makes them."""
    latency = get(api, "/api/findings", {"model": ui_store.LATENCY_MODEL, "kind": "latency", "limit": 1})[1]
    finding = latency["findings"][0] if latency["findings"] else None
    model = ui_store.LATENCY_MODEL
    drift_model, feature = ui_store.DRIFT_MODEL, ui_store.DRIFTED_FEATURES[0]
    versions = [d["version"] for d in get(api, "/api/series", {"model": drift_model, "window": 86400})[1]["deploys"]]
    h6, d7 = 6 * 3600, 7 * 86400

    def model_calls(name: str, window: int) -> list[tuple[str, dict[str, Any]]]:
        bucket = max(60, round(window / 48 / 60) * 60)
        return [
            ("/api/series", {"model": name, "window": window, "operation": ""}),
            ("/api/findings", {"model": name, "limit": 200}),
            ("/api/drift/features", {"model": name, "window": window}),
            ("/api/performance", {"model": name, "window": window, "bucket": bucket}),
            ("/api/hotspots", {"model": name, "window": window, "limit": 10}),
            ("/api/hotspots/diff", {"model": name, "window": window, "limit": 15}),
        ]

    out = [
        {
            "page": "models (1 h)",
            "url": "#/models?range=1h",
            "calls": [("/api/overview", {"window": 3600, "points": 30})],
            # drawn after the page is usable, a few at a time: timed, not waited for
            "later": [
                ("/api/performance", {"model": m, "window": 3600, "bucket": 3600}) for m in ui_store.LABELLED_MODELS
            ],
        },
        {
            "page": "models (7 d)",
            "url": "#/models?range=7d",
            "calls": [("/api/overview", {"window": d7, "points": 30})],
        },
        {"page": f"model {model} (6 h)", "url": f"#/model/{model}?range=6h", "calls": model_calls(model, h6)},
        {"page": f"model {model} (7 d)", "url": f"#/model/{model}?range=7d", "calls": model_calls(model, d7)},
        {
            "page": f"model {drift_model}, drift of {feature}",
            "url": f"#/model/{drift_model}?range=6h&feature={feature}&fversion={versions[-1]}&fside=input",
            "calls": [
                *model_calls(drift_model, h6),
                (
                    "/api/drift/distribution",
                    {"model": drift_model, "version": versions[-1], "feature": feature, "side": "input"},
                ),
                ("/api/drift/scores", {"model": drift_model, "feature": feature, "side": "input", "window": h6}),
            ],
        },
        {
            "page": "traces (1 h)",
            "url": "#/traces?range=1h",
            "calls": [("/api/models", {"window": "30d"}), ("/api/calls", {"window": 3600, "limit": 100})],
        },
        {
            "page": f"traces {model}, slowest, 7 d",
            "url": f"#/traces?range=7d&model={model}&order=slowest",
            "calls": [
                ("/api/models", {"window": "30d"}),
                ("/api/calls", {"window": d7, "model": model, "order": "slowest", "limit": 100}),
            ],
        },
        {
            "page": "trace of 10,000 spans",
            "url": f"#/trace/{ui_store.BIG_TRACE_ID}",
            "calls": [(f"/api/traces/{ui_store.BIG_TRACE_ID}", {"view": "tree"}), ("/api/ui", {})],
            "target": TRACE_TARGET_S,
        },
        {
            "page": "sql (an example query)",
            "url": "#/sql",
            "calls": [],
            "sql": "SELECT ModelName, ModelVersion, count() AS calls, quantile(0.95)(Duration) / 1e6 AS p95_ms "
            "FROM ml_predictions WHERE Timestamp > now() - INTERVAL 1 DAY GROUP BY ModelName, ModelVersion",
        },
    ]
    if finding:
        start = int(ui_store_time(finding["window_start"]))
        end = int(ui_store_time(finding["window_end"]))
        span = max(end - start, 300_000)
        out.insert(
            5,
            {
                "page": f"finding ({finding['kind']} of {model})",
                "url": f"#/finding/{finding['id']}",
                "calls": [
                    (f"/api/findings/{finding['id']}", {}),
                    (
                        "/api/series",
                        {
                            "model": model,
                            "start": start - max(3 * span, 3_600_000),
                            "end": min(int(time.time() * 1000), end + span),
                            "operation": finding["operation"],
                        },
                    ),
                    (
                        "/api/calls",
                        {
                            "model": model,
                            "version": finding["version"],
                            "operation": finding["operation"],
                            "start": start,
                            "end": end,
                            "order": "slowest",
                            "limit": 10,
                        },
                    ),
                ],
                # the causes shown are the ones stored with the finding; "recompute now" asks again
                "later": [(f"/api/rca/{finding['id']}", {})],
            },
        )
    return out


def ui_store_time(iso: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def time_api(api: str, page: dict[str, Any], rounds: int) -> list[tuple[str, float, float]]:
    """(route, p50, p95) of each of the page's calls over ``rounds`` rounds."""
    out = []
    calls = [*page["calls"], *page.get("later", [])]
    for path, params in calls:
        times = [get(api, path, params)[0] for _ in range(rounds)]
        out.append((path, statistics.median(times), p95(times)))
    if page.get("sql"):
        times = [post(api, "/api/sql", {"query": page["sql"]})[0] for _ in range(rounds)]
        out.append(("/api/sql", statistics.median(times), p95(times)))
    return out


def time_browser(api: str, page_specs: list[dict[str, Any]], loads: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        # no live refresh during the measure
        context.add_init_script("try { localStorage.setItem('modeltrace.refresh', '0'); } catch (e) {}")
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        for spec in page_specs:
            times = []
            for _ in range(loads):
                tab.goto("about:blank")
                started = time.perf_counter()
                tab.goto(api + "/" + spec["url"])
                if spec.get("sql"):
                    tab.wait_for_selector("#sql-editor")
                    tab.fill("#sql-editor", spec["sql"])
                    tab.click("#sql-run")
                    tab.wait_for_selector("#sql-results table", timeout=60_000)
                else:
                    tab.wait_for_function(READY, timeout=60_000)
                times.append(time.perf_counter() - started)
            out[spec["page"]] = times
        browser.close()
        if errors:
            raise SystemExit(f"the pages raised errors: {errors[:3]}")
    return out


def main() -> int:
    from tests.integration.collector_proc import CollectorProcess

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=ui_store.DEFAULT_SPANS)
    parser.add_argument("--days", type=float, default=ui_store.DEFAULT_DAYS)
    parser.add_argument("--models", type=int, default=ui_store.DEFAULT_MODELS)
    parser.add_argument("--rounds", type=int, default=20, help="timings of each API call")
    parser.add_argument("--loads", type=int, default=5, help="loads of each page in Chromium")
    args = parser.parse_args()

    path = ui_store.cached_store(args.spans, args.days, args.models)
    info = ui_store.store_info(path)
    print(
        f"store: {path}: {info['counts']['otel_traces']:,} spans, {len(info['models']['names'])} models, "
        f"{info['bytes'] / 2**30:.2f} GiB, built {info['age_s'] / 3600:.1f} h ago"
    )
    with tempfile.TemporaryDirectory() as data_dir:
        api_rows, loads, specs = measure(
            CollectorProcess(data_dir, "analysis.enabled=false", dsn=f"chdb://{path}"), args
        )
    report(specs, api_rows, loads)
    return 0


def measure(proc: Any, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, list[float]], list[dict[str, Any]]]:
    """The API and page timings against the collector ``proc`` (started here, stopped at the end)."""
    proc.start()
    try:
        api = proc.api
        specs = pages(api)
        for spec in specs:  # warm: the first read of each part comes from disk
            time_api(api, spec, 1)
        api_rows = {spec["page"]: time_api(api, spec, args.rounds) for spec in specs}
        have_browser = os.access(CHROMIUM, os.X_OK)
        loads = time_browser(api, specs, args.loads) if have_browser else {}
    finally:
        proc.stop()
        proc.kill()
    return api_rows, loads, specs


def report(specs: list[dict[str, Any]], api_rows: dict[str, Any], loads: dict[str, list[float]]) -> None:
    missed = []
    print(
        f"\n{'page':<44} {'API calls':>9} {'slowest p95':>12} {'(route)':<28} {'usable median':>14} {'p95':>7} target"
    )
    for spec in specs:
        rows = api_rows[spec["page"]]
        worst = max(rows, key=lambda r: r[2])
        usable = loads.get(spec["page"])
        target = spec.get("target", PAGE_TARGET_S)
        shown = f"{statistics.median(usable):>13.3f}s {p95(usable):>6.3f}s" if usable else f"{'(no Chromium)':>22}"
        print(f"{spec['page']:<44} {len(rows):>9} {worst[2] * 1000:>10.0f}ms {worst[0]:<28} {shown} {target:.0f} s")
        for route, _, high in rows:
            if high > API_TARGET_S:
                missed.append(f"{spec['page']}: {route} p95 {high * 1000:.0f} ms > {API_TARGET_S * 1000:.0f} ms")
        if usable and p95(usable) > target:
            missed.append(f"{spec['page']}: usable p95 {p95(usable):.2f} s > {target:.0f} s")
    print("\nper route (p50 / p95 ms):")
    for spec in specs:
        print(
            f"  {spec['page']}: "
            + ", ".join(f"{r} {a * 1000:.0f}/{b * 1000:.0f}" for r, a, b in api_rows[spec["page"]])
        )
    print("\ntargets missed:" if missed else "\nevery target met", *missed, sep="\n  ")


if __name__ == "__main__":
    sys.exit(main())

"""Reads never hold up writes: span-to-stored latency at a steady ingest rate, alone and while
four users run heavy SQL, side by side in one run.

Run with ``make bench`` (or ``.venv/bin/python tests/bench/bench_isolation.py``). One client
sends OTLP/gRPC requests of realistic modeltrace spans at a fixed rate to a collector process
(embedded chDB). A watcher reads ``spans_stored_total`` from ``/metrics`` every 10 ms; the
spool and the writer keep the order of acknowledged requests, so each request's stored time
is the first moment the counter covers it. Latency is stored time minus acknowledgement time.
The second phase repeats the same ingest while four threads each keep a ~10 s query running
through ``/api/sql`` (the collector admits all four at once: ``api.sql_max_concurrent=4``).
Prints p50/p99/max per phase and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

# A triple self-join of the stored spans: CPU-bound, reads only the product's tables, and far
# too big to finish: the collector's time cap (api.sql_max_seconds, 10 s) stops it.
HEAVY_SQL = (
    "SELECT count() FROM otel_traces AS a CROSS JOIN otel_traces AS b CROSS JOIN otel_traces AS c "
    "WHERE cityHash64(a.SpanId, b.SpanId, c.SpanId) % 1000 = 7"
)


def stored(api: str) -> float:
    with urllib.request.urlopen(api + "/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("modeltrace_spans_stored_total "):
                return float(line.split()[1])
    return 0.0


def heavy_queries(api: str, stop: threading.Event, outcomes: list[str]) -> None:
    body = json.dumps({"query": HEAVY_SQL}).encode()
    while not stop.is_set():
        request = urllib.request.Request(api + "/api/sql", data=body, headers={"Content-Type": "application/json"})
        began = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=120) as r:
                r.read()
            outcomes.append(f"ok {time.monotonic() - began:.1f}s")
        except urllib.error.HTTPError as exc:
            message = json.loads(exc.read() or b"{}").get("error", "")[:60]
            outcomes.append(f"{exc.code} {time.monotonic() - began:.1f}s {message}")


def phase(proc, requests: list[bytes], per_request: int, rate: float, with_queries: bool) -> list[float]:
    import grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{proc.grpc_port}")
    export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
    base = stored(proc.api)
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            samples.append((time.monotonic(), stored(proc.api) - base))
            time.sleep(0.01)

    stop_queries = threading.Event()
    outcomes: list[str] = []
    queriers = [
        threading.Thread(target=heavy_queries, args=(proc.api, stop_queries, outcomes), daemon=True)
        for _ in range(4 if with_queries else 0)
    ]
    for q in queriers:
        q.start()
    if queriers:
        time.sleep(2.0)  # let the queries get going before measuring
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    acked: list[float] = []
    interval = per_request / rate
    start = time.monotonic()
    for k, body in enumerate(requests):
        wait = start + k * interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        export(body, timeout=30)
        acked.append(time.monotonic())
    total = len(requests) * per_request
    deadline = time.monotonic() + 120
    while (not samples or samples[-1][1] < total) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    stop_queries.set()
    watcher.join()
    channel.close()
    for q in queriers:
        q.join(timeout=60)
    if outcomes:
        print(f"    heavy queries: {len(outcomes)} answered: {', '.join(outcomes[:8])}")
    latencies = []
    i = 0
    for k, ack in enumerate(acked):
        needed = (k + 1) * per_request
        while i < len(samples) and samples[i][1] < needed:
            i += 1
        if i == len(samples):
            raise SystemExit(f"only {samples[-1][1]:.0f} of {total} spans were stored")
        latencies.append(max(0.0, samples[i][0] - ack) * 1000)
    return latencies


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument("--rate", type=float, default=1000.0, help="spans per second")
    parser.add_argument("--spans-per-request", type=int, default=50)
    parser.add_argument("--max-delay", type=float, default=0.2, help="writer.max_delay_seconds")
    args = parser.parse_args()

    from tests.collector.spans import make_requests
    from tests.integration.collector_proc import CollectorProcess

    n = int(args.seconds * args.rate / args.spans_per_request)
    print(f"making {2 * n} requests of {args.spans_per_request} spans ...", flush=True)
    alone_requests = make_requests(n, args.spans_per_request, service="bench", seed=1, features=20)
    loaded_requests = make_requests(n, args.spans_per_request, service="bench", seed=2, features=20)
    with tempfile.TemporaryDirectory() as tmp:
        proc = CollectorProcess(
            os.path.join(tmp, "c"),
            "analysis.enabled=false",
            f"writer.max_delay_seconds={args.max_delay}",
            # all four run at once (the default admits two and answers 429 to the others)
            "api.sql_max_concurrent=4",
        ).start()
        try:
            print(f"ingest alone: {args.rate:.0f} spans/s for {args.seconds:.0f} s", flush=True)
            alone = phase(proc, alone_requests, args.spans_per_request, args.rate, with_queries=False)
            print("ingest with 4 concurrent heavy SQL queries", flush=True)
            loaded = phase(proc, loaded_requests, args.spans_per_request, args.rate, with_queries=True)
        finally:
            proc.stop()
    print()
    print(f"span-to-stored latency, {args.rate:.0f} spans/s, writer.max_delay_seconds={args.max_delay}")
    print(f"{'run':<44}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    rows = [("ingest alone", alone), ("ingest + 4 concurrent ~10 s SQL queries", loaded)]
    for name, values in rows:
        print(f"{name:<44}{statistics.median(values):>10.0f}{quantile(values, 0.99):>10.0f}{max(values):>10.0f}")
    p50 = statistics.median(loaded) / statistics.median(alone)
    p99 = quantile(loaded, 0.99) / quantile(alone, 0.99)
    print(f"{'ratio (with queries / alone)':<44}{p50:>10.2f}{p99:>10.2f}")


if __name__ == "__main__":
    main()

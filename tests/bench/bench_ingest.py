"""End-to-end ingest: OTLP/gRPC clients to committed rows in chDB, against the raw-insert limit.

Run with ``make bench``. Client processes replay pre-encoded requests of realistic
modeltrace spans (online inference: one row of 20 features per call) at a collector
process; the clock stops when every span is committed in ``otel_traces``. In the same run
a separate process inserts the same rows, already flattened, straight into the same
tables through clickhouse-connect: the ceiling for this machine. Prints both, the ratio,
and the collector's peak RSS.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def encoded_requests(n_requests: int, spans_per_request: int) -> list[bytes]:
    """Online-inference spans: one row of 20 features per call, about 10 attributes."""
    from tests.collector.spans import make_requests

    return make_requests(n_requests, spans_per_request, service="scoring-api", features=20)


def client(port: int, requests: list[bytes], repeat: int, ready: Any, go: Any) -> None:
    import grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)])
    export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
    ready.set()
    go.wait()
    for _ in range(repeat):
        for body in requests:
            while True:
                try:
                    export(body, timeout=30)
                    break
                except grpc.RpcError as exc:
                    if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
                        raise
                    time.sleep(0.05)  # the collector pushed back: retry, as OTLP clients do
    channel.close()


def end_to_end(
    requests: list[bytes], spans_per_request: int, clients: int, repeat: int, extra_settings: tuple[str, ...] = ()
) -> tuple[float, int, float]:
    from tests.integration.collector_proc import CollectorProcess

    total = len(requests) * spans_per_request * repeat * clients
    with tempfile.TemporaryDirectory() as tmp:
        proc = CollectorProcess(
            os.path.join(tmp, "c"), "writer.max_delay_seconds=0.5", "log_level=warning", *extra_settings
        ).start()
        ready = [mp.Event() for _ in range(clients)]
        go = mp.Event()
        workers = [
            mp.Process(target=client, args=(proc.grpc_port, requests, repeat, ready[i], go)) for i in range(clients)
        ]
        for w in workers:
            w.start()
        for r in ready:
            r.wait(60)
        t0 = time.perf_counter()
        peaks = {"RssAnon": 0, "RssFile": 0}
        threading.Thread(target=_watch_memory, args=(proc.proc, peaks), daemon=True).start()
        go.set()
        backlog = [0]

        def committed() -> bool:
            ready = proc.get("/ready")[1] or {}
            backlog[0] = max(backlog[0], int(ready.get("spool_records", 0)))
            return proc.count("otel_traces") >= total

        proc.wait_until(committed, timeout=900, what="all spans committed")
        elapsed = time.perf_counter() - t0
        for w in workers:
            w.join()
        assert proc.proc is not None
        with open(f"/proc/{proc.proc.pid}/status") as f:
            hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
        stored = proc.count("otel_traces")
        proc.stop()
    print(f"  largest spool backlog seen: {backlog[0]} requests (clients outpacing storage)")
    print(
        f"  collector memory peaks: {peaks['RssAnon'] / 1024:.0f} MiB anonymous (heap), "
        f"{peaks['RssFile'] / 1024:.0f} MiB file-backed (mostly chDB's library code)"
    )
    return total / elapsed, stored, hwm / 1024


def _watch_memory(proc: Any, peaks: dict[str, int]) -> None:
    """Peak anonymous and file-backed resident memory of a process, sampled every 100 ms."""
    while proc is not None and proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    key = line.split(":", 1)[0]
                    if key in peaks:
                        peaks[key] = max(peaks[key], int(line.split()[1]))
        except OSError:
            return
        time.sleep(0.1)


def _raw_insert(requests: list[bytes], total: int, block: int, out: Any) -> None:
    from modeltrace_collector.pipeline.flatten import TABLES, Batch, flatten
    from modeltrace_collector.storage.client import resolve
    from modeltrace_collector.storage.migrate import SchemaOptions
    from modeltrace_collector.storage.store import Store

    # Blocks as large as the collector's batches: ClickHouse's cost per row falls with block size.
    per_request = len(flatten(requests[:1]).columns["otel_traces"][0])
    batch = Batch()
    flatten([requests[i % len(requests)] for i in range(max(1, block // per_request))], batch)
    times = max(1, total // batch.spans)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(resolve(f"chdb://{tmp}/chdb", tmp), SchemaOptions())
        store.migrate()
        t0 = time.perf_counter()
        for i in range(times):
            for table, names in TABLES.items():
                if batch.rows(table):
                    store.insert(table, batch.columns[table], names, f"raw-{i}-{table}")
        elapsed = time.perf_counter() - t0
        count = store.query("SELECT count() FROM modeltrace.otel_traces").result_rows[0][0]
        store.close()
    out.put((batch.spans * times / elapsed, count))


def raw_limit(requests: list[bytes], total: int, block: int) -> tuple[float, int]:
    q: Any = mp.Queue()
    p = mp.Process(target=_raw_insert, args=(requests, total, block, q))
    p.start()
    result = q.get(timeout=900)
    p.join()
    return result  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=200_000, help="spans sent end to end")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--spans-per-request", type=int, default=512)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--set", action="append", default=[], help="collector setting, e.g. writer.batch_spans=50000")
    args = parser.parse_args()
    if args.quick:
        args.spans = 20_000
    distinct_requests = 20
    per_client = args.spans // args.clients
    repeat = max(1, per_client // (distinct_requests * args.spans_per_request))
    print(f"encoding {distinct_requests} requests of {args.spans_per_request} modeltrace spans ...")
    requests = encoded_requests(distinct_requests, args.spans_per_request)
    size = sum(len(r) for r in requests) / (distinct_requests * args.spans_per_request)
    print(f"  {size:.0f} bytes per span on the wire")

    e2e, stored, rss = end_to_end(requests, args.spans_per_request, args.clients, repeat, tuple(args.set))
    from modeltrace_collector.config import SCHEMA

    default_block = SCHEMA["writer"]["batch_spans"][1]  # type: ignore[index]
    block = next((int(s.split("=", 1)[1]) for s in args.set if s.startswith("writer.batch_spans=")), default_block)
    raw, raw_count = raw_limit(requests, args.spans, block)
    print()
    print(f"{'case':<64}{'spans/s':>12}")
    print(f"{'end to end: ' + str(args.clients) + ' gRPC clients -> collector -> chDB (committed)':<64}{e2e:>12,.0f}")
    print(f"{f'limit: clickhouse-connect, flattened rows, {block:,}-row blocks':<64}{raw:>12,.0f}")
    print(f"\nratio end-to-end / limit: {e2e / raw:.2f}   (target >= 0.5)")
    print(f"end-to-end throughput target >= 60,000 spans/s: {'met' if e2e >= 60_000 else 'not met'}")
    print(f"collector peak RSS: {rss:.0f} MiB   (target < 1024 MiB)")
    print(f"spans stored: {stored:,} end to end, {raw_count:,} raw")
    return 0


if __name__ == "__main__":
    sys.exit(main())

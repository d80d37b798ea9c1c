"""OTLP/HTTP ingest, spans per second end to end: this checkout next to an earlier one, in one run.

Run with ``make bench`` (or ``.venv/bin/python tests/bench/bench_http_ingest.py``). The earlier
code is the commit before the HTTP listeners moved to uvicorn (``--before`` names another),
checked out into a temporary worktree. Client processes post ``--spans-total`` spans of
pre-encoded requests (protobuf, then OTLP/JSON) over keep-alive connections to a collector
process; the clock stops when the collector has stored them all (``spans_stored_total``), and
the time to the last acknowledgement is shown too. Each version runs ``--rounds`` times,
alternating, so the machine's drift hits both alike. Prints every run, the medians and their
ratio.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def before_the_switch() -> str:
    """The commit before the one that added the uvicorn listeners."""
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "collector/modeltrace_collector/net/server.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    if not added:
        raise SystemExit("cannot find the commit that added net/server.py: pass --before")
    return added[-1] + "^"


def bodies(kind: str, n: int, spans: int) -> list[bytes]:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from tests.collector.spans import make_requests

    encoded = make_requests(n, spans, service="http-bench", features=20)
    if kind == "protobuf":
        return encoded
    out = []
    for raw in encoded:
        data = json_format.MessageToDict(ExportTraceServiceRequest.FromString(raw))
        for rs in data["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in span:
                            span[key] = base64.b64decode(span[key]).hex()
        out.append(json.dumps(data).encode())
    return out


def client(port: int, payloads: list[bytes], ctype: str, requests: int, go: Any, out: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    go.wait()
    refused = 0
    for i in range(requests):
        while True:
            conn.request("POST", "/v1/traces", body=payloads[i % len(payloads)], headers={"Content-Type": ctype})
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                break
            refused += 1  # 503 when the spool is full: back off as an exporter does
            time.sleep(0.5)
    conn.close()
    out.put((time.monotonic(), refused))


def stored(proc: Any) -> int:
    import urllib.request

    with urllib.request.urlopen(proc.api + "/metrics", timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("modeltrace_spans_stored_total "):
                return int(float(line.split()[1]))
    return 0


def run(code_root: str | None, kind: str, args: argparse.Namespace, payloads: list[bytes]) -> tuple[float, float]:
    """(spans/s to the last acknowledgement, spans/s until all are stored)."""
    from tests.integration.collector_proc import CollectorProcess

    ctype = "application/x-protobuf" if kind == "protobuf" else "application/json"
    wanted = args.spans_total if kind == "protobuf" else args.spans_total // 5  # JSON decodes ~10x slower
    per_client = max(1, wanted // (args.spans * args.clients))
    total = per_client * args.clients * args.spans
    with tempfile.TemporaryDirectory() as tmp:
        proc = CollectorProcess(os.path.join(tmp, "c"), "analysis.enabled=false", code_root=code_root).start()
        try:
            ctx = mp.get_context("spawn")
            go, out = ctx.Event(), ctx.Queue()
            workers = [
                ctx.Process(target=client, args=(proc.http_port, payloads, ctype, per_client, go, out))
                for _ in range(args.clients)
            ]
            for w in workers:
                w.start()
            time.sleep(1.0)
            began = time.monotonic()
            go.set()
            last_ack = max(out.get(timeout=600)[0] for _ in workers)
            while stored(proc) < total:
                time.sleep(0.05)
            done = time.monotonic()
            for w in workers:
                w.join()
        finally:
            proc.stop()
    return total / (last_ack - began), total / (done - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", help="the earlier commit (default: the one before the uvicorn listeners)")
    parser.add_argument(
        "--spans-total", type=int, default=200_000, help="spans sent in each protobuf run (a fifth of it as JSON)"
    )
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--spans", type=int, default=100, help="spans per request")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--kinds", default="protobuf,json", help="bodies to send: protobuf, json or both")
    args = parser.parse_args()
    before = args.before or before_the_switch()
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "before")
        subprocess.run(["git", "worktree", "add", "--detach", "-q", tree, before], cwd=ROOT, check=True)
        try:
            results: dict[tuple[str, str], list[float]] = {}
            for kind in args.kinds.split(","):
                payloads = bodies(kind, 20, args.spans)
                for _ in range(args.rounds):
                    for label, root in (("before", tree), ("after", None)):
                        acked, end_to_end = run(root, kind, args, payloads)
                        results.setdefault((kind, label), []).append(end_to_end)
                        line = f"acknowledged {acked:9,.0f} spans/s, stored {end_to_end:9,.0f} spans/s"
                        print(f"{kind:9} {label:7} {line}", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=ROOT, check=False)
    print(f"\nOTLP/HTTP, {args.clients} keep-alive clients, {args.spans} spans a request, stored end to end")
    print(f"{'body':10}{'before spans/s':>16}{'after spans/s':>16}{'after/before':>14}")
    for kind in args.kinds.split(","):
        b = statistics.median(results[(kind, "before")])
        a = statistics.median(results[(kind, "after")])
        print(f"{kind:10}{b:16,.0f}{a:16,.0f}{a / b:14.2f}")
    print(f"(before: {before})")


if __name__ == "__main__":
    main()

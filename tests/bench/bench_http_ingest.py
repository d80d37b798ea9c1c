"""OTLP/HTTP ingest, spans acknowledged per second: this checkout next to an earlier one, in one run.

Run with ``make bench`` (or ``.venv/bin/python tests/bench/bench_http_ingest.py``). The earlier
code is the commit before the HTTP listeners moved to uvicorn (``--before`` names another),
checked out into a temporary worktree. Client processes post pre-encoded requests (protobuf,
then OTLP/JSON) over keep-alive connections to a collector process for ``--seconds``; each
version runs ``--rounds`` times, alternating, so the machine's drift hits both alike. Prints
spans/s per run, the medians and their ratio.
"""

from __future__ import annotations

import argparse
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
                            import base64

                            span[key] = base64.b64decode(span[key]).hex()
        out.append(json.dumps(data).encode())
    return out


def client(port: int, payloads: list[bytes], ctype: str, spans: int, seconds: float, go: Any, out: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    go.wait()
    acked = 0
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        conn.request("POST", "/v1/traces", body=payloads[i % len(payloads)], headers={"Content-Type": ctype})
        response = conn.getresponse()
        response.read()
        if response.status == 200:
            acked += spans
        i += 1
    conn.close()
    out.put(acked)


def run(code_root: str | None, kind: str, args: argparse.Namespace, payloads: list[bytes]) -> float:
    from tests.integration.collector_proc import CollectorProcess

    ctype = "application/x-protobuf" if kind == "protobuf" else "application/json"
    with tempfile.TemporaryDirectory() as tmp:
        proc = CollectorProcess(os.path.join(tmp, "c"), "analysis.enabled=false", code_root=code_root).start()
        try:
            ctx = mp.get_context("spawn")
            go, out = ctx.Event(), ctx.Queue()
            workers = [
                ctx.Process(target=client, args=(proc.http_port, payloads, ctype, args.spans, args.seconds, go, out))
                for _ in range(args.clients)
            ]
            for w in workers:
                w.start()
            time.sleep(1.0)
            go.set()
            acked = sum(out.get(timeout=args.seconds + 120) for _ in workers)
            for w in workers:
                w.join()
        finally:
            proc.stop()
    return acked / args.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", help="the earlier commit (default: the one before the uvicorn listeners)")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--spans", type=int, default=100, help="spans per request")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    before = args.before or before_the_switch()
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "before")
        subprocess.run(["git", "worktree", "add", "--detach", "-q", tree, before], cwd=ROOT, check=True)
        try:
            results: dict[tuple[str, str], list[float]] = {}
            for kind in ("protobuf", "json"):
                payloads = bodies(kind, 20, args.spans)
                for _ in range(args.rounds):
                    for label, root in (("before", tree), ("after", None)):
                        rate = run(root, kind, args, payloads)
                        results.setdefault((kind, label), []).append(rate)
                        print(f"{kind:9} {label:7} {rate:10,.0f} spans/s", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=ROOT, check=False)
    print(f"\nOTLP/HTTP, {args.clients} keep-alive clients, {args.spans} spans a request, {args.seconds:g} s a run")
    print(f"{'body':10}{'before spans/s':>16}{'after spans/s':>16}{'after/before':>14}")
    for kind in ("protobuf", "json"):
        b = statistics.median(results[(kind, "before")])
        a = statistics.median(results[(kind, "after")])
        print(f"{kind:10}{b:16,.0f}{a:16,.0f}{a / b:14.2f}")
    print(f"(before: {before})")


if __name__ == "__main__":
    main()

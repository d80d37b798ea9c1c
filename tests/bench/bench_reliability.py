"""Reliability under abuse, measured on real collector processes: kill -9 under load, a full
disk, overload, and poison requests. Prints what was acknowledged, stored, lost and doubled.

Run with ``make bench`` (or ``.venv/bin/python tests/bench/bench_reliability.py``). The full
disk case mounts a 64 MiB tmpfs and needs root; it is reported as not run otherwise.

- kill -9: four clients send unique spans over OTLP/gRPC while the collector is killed
  (SIGKILL) and restarted ``--cycles`` times; at the end every acknowledged span id must be
  stored exactly once, and every derived ``ml_predictions`` row with it.
- full disk: the data directory (spool and chDB) on a 64 MiB tmpfs; four clients send until
  the collector pushes back; then the filesystem grows to 512 MiB and every acknowledged span
  must arrive.
- overload: four clients flat out for ``--overload-seconds``; nothing acknowledged may be lost;
  peak RSS is reported.
- poison: one request of each kind, each followed by a valid span that must be stored.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

BASE_NS = 1_760_000_000 * 10**9


def request_of(ids: list[int], pad: int = 0, start: int | None = None, name: str = "predict bench") -> bytes:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    def kv(k: str, v: str) -> Any:
        return common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v))

    spans = [
        trace_pb2.Span(
            trace_id=(sid * 7919 + 1).to_bytes(16, "big"),
            span_id=sid.to_bytes(8, "big"),
            name=name,
            start_time_unix_nano=(BASE_NS + sid) if start is None else start,
            end_time_unix_nano=(BASE_NS + sid + 100_000) if start is None else start + 100_000,
            attributes=[kv("ml.model.name", "bench"), kv("ml.input.sample", '{"x": [1.5, 2.5]}'), kv("pad", "x" * pad)],
        )
        for sid in ids
    ]
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])]
    ).SerializeToString()


class Clients:
    """``n`` threads sending unique spans over gRPC, recording what was acknowledged."""

    def __init__(self, port_of: Any, n: int = 4, per_request: int = 200, pad: int = 200) -> None:
        self.port_of, self.n, self.per_request, self.pad = port_of, n, per_request, pad
        self.acked: list[int] = []
        self.refused = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(n)]

    def start(self) -> Clients:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def _run(self, index: int) -> None:
        import grpc

        sid = index * 10**12 + 1
        channel, port = None, None
        while not self._stop.is_set():
            if port != self.port_of():
                port = self.port_of()
                channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            ids = list(range(sid, sid + self.per_request))
            try:
                export(request_of(ids, self.pad), timeout=10)
            except grpc.RpcError:
                with self._lock:
                    self.refused += 1
                time.sleep(0.05)  # down or pushing back: retry with new ids, as a client would
                sid += self.per_request
                continue
            sid += self.per_request
            with self._lock:
                self.acked.extend(ids)


def verify(proc: Any, acked: list[int], timeout: float = 300) -> dict[str, Any]:
    """Wait for the spool to drain, then compare what is stored with what was acknowledged."""
    proc.wait_until(lambda: (proc.get("/ready")[1] or {}).get("spool_records") == 0, timeout, "the spool to drain")
    time.sleep(1.0)
    total, distinct = proc.sql("SELECT count(), uniqExact(SpanId) FROM modeltrace.otel_traces")[0]
    stored: set[int] = set()
    page = 10_000  # the SQL endpoint's row cap: read the ids page by page
    for offset in range(0, distinct, page):
        rows = proc.sql(
            f"SELECT DISTINCT SpanId FROM modeltrace.otel_traces ORDER BY SpanId LIMIT {page} OFFSET {offset}"
        )
        stored.update(int(span_id, 16) for (span_id,) in rows)
    predictions = proc.count("ml_predictions")
    return {
        "acknowledged": len(acked),
        "stored": distinct,
        "lost": len(set(acked) - stored),
        "doubled": total - distinct,
        "ml_predictions": predictions,
    }


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def kill_cycles(cycles: int, rng: random.Random) -> dict[str, Any]:
    from tests.integration.collector_proc import CollectorProcess

    with tempfile.TemporaryDirectory() as tmp:
        proc = CollectorProcess(os.path.join(tmp, "c"), "analysis.enabled=false").start()
        clients = Clients(lambda: proc.grpc_port).start()
        try:
            for _ in range(cycles):
                time.sleep(rng.uniform(4, 8))
                proc.kill()  # SIGKILL under load: nothing flushed, nothing shut down
                time.sleep(0.5)
                proc.start()
            time.sleep(rng.uniform(2, 4))
        finally:
            clients.stop()
        result = verify(proc, clients.acked)
        proc.stop()
    return {"case": f"kill -9 x{cycles} under load", **result}


def disk_full(size_mb: int) -> dict[str, Any]:
    from tests.integration.collector_proc import CollectorProcess

    if os.geteuid() != 0:
        return {"case": f"full {size_mb} MiB disk", "note": "not run: mounting a tmpfs needs root"}
    with tempfile.TemporaryDirectory() as tmp:
        disk = os.path.join(tmp, "disk")
        os.makedirs(disk)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", disk], check=True)
        try:
            proc = CollectorProcess(os.path.join(disk, "c"), "analysis.enabled=false").start()
            clients = Clients(lambda: proc.grpc_port, pad=2000).start()
            began = time.monotonic()
            # Until the disk is full and the collector has pushed back for a while.
            while time.monotonic() - began < 180:
                time.sleep(1)
                refused_before = clients.refused
                time.sleep(2)
                if clients.refused - refused_before > 10:
                    break
            clients.stop()
            log_tail = proc.log()[-400:]
            subprocess.run(["mount", "-o", f"remount,size={size_mb * 8}m", disk], check=True)
            result = verify(proc, clients.acked)
            proc.stop()
        finally:
            subprocess.run(["umount", "-l", disk], check=False)
    full = "ENOSPC" in log_tail or "No space" in log_tail or clients.refused > 0
    return {"case": f"full {size_mb} MiB disk, then grown", "pushed back": full, "refusals": clients.refused, **result}


def overload(seconds: float) -> dict[str, Any]:
    from tests.integration.collector_proc import CollectorProcess

    with tempfile.TemporaryDirectory() as tmp:
        proc = CollectorProcess(os.path.join(tmp, "c"), "analysis.enabled=false").start()
        clients = Clients(lambda: proc.grpc_port).start()
        time.sleep(seconds)
        clients.stop()
        result = verify(proc, clients.acked)
        result["peak RSS MiB"] = round(peak_rss_mb(proc.proc.pid))
        proc.stop()
    return {"case": f"4 clients flat out for {seconds:.0f} s", **result}


def poison() -> list[dict[str, Any]]:
    import urllib.request

    from tests.integration.collector_proc import CollectorProcess

    def post(proc: Any, body: bytes, ctype: str = "application/x-protobuf") -> tuple[int, int]:
        r = urllib.request.Request(proc.http_endpoint + "/v1/traces", data=body, headers={"Content-Type": ctype})
        try:
            with urllib.request.urlopen(r, timeout=30) as response:
                reply = response.read()
                if ctype == "application/json":
                    return 200, int(json.loads(reply).get("partialSuccess", {}).get("rejectedSpans", 0))
                from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

                return 200, trace_service_pb2.ExportTraceServiceResponse.FromString(
                    reply
                ).partial_success.rejected_spans
        except urllib.error.HTTPError as exc:
            return exc.code, 0

    def stored(proc: Any) -> int:
        """The writer's count of spans whose insert finished (every table and view written)."""
        with urllib.request.urlopen(proc.api + "/metrics", timeout=30) as r:
            text = r.read().decode()
        for line in text.splitlines():
            if line.startswith("modeltrace_spans_stored_total "):
                return int(float(line.split()[1]))
        return 0

    late = {
        "resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "late",
            "startTimeUnixNano": "18446744073709551000", "endTimeUnixNano": "18446744073709551000"}]}]}]
    }  # fmt: skip
    deep = "[" * 10_000 + "]" * 10_000
    cases = [
        ("start time 18446744073709551000 (OTLP/JSON)", json.dumps(late).encode(), "application/json", 1),
        ("start time 2^63", request_of([1], start=2**63), "application/x-protobuf", 1),
        ("150 spans on 150 different days", b"", "backfill", 150),
        ("ids of 3 and 20 bytes", b"", "ids", 2),
        ("OTLP/JSON nested 10,000 deep", deep.encode(), "application/json", 0),
        ("an ml.input.sample of 60,000 values", request_of([5], pad=0, name="big"), "application/x-protobuf", 1),
    ]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        proc = CollectorProcess(os.path.join(tmp, "c"), "analysis.enabled=false").start()
        try:
            for n, (name, body, kind, spans) in enumerate(cases):
                if kind == "backfill":
                    day = 86_400 * 10**9
                    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

                    req = trace_service_pb2.ExportTraceServiceRequest()
                    for i in range(150):
                        req.MergeFromString(request_of([1000 + i], start=BASE_NS - i * day))
                    body, kind = req.SerializeToString(), "application/x-protobuf"
                if kind == "ids":
                    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

                    req = trace_service_pb2.ExportTraceServiceRequest.FromString(request_of([2000, 2001]))
                    req.resource_spans[0].scope_spans[0].spans[0].trace_id = b"abc"
                    req.resource_spans[0].scope_spans[0].spans[1].span_id = bytes(range(20))
                    body, kind = req.SerializeToString(), "application/x-protobuf"
                if name.startswith("an ml.input.sample"):
                    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

                    req = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                    attrs = req.resource_spans[0].scope_spans[0].spans[0].attributes
                    attrs[1].value.string_value = json.dumps({"x": list(range(60_000))})
                    body = req.SerializeToString()
                before = stored(proc)
                status, refused = post(proc, body, kind)
                began = time.monotonic()
                canary = 10**9 + n
                post(proc, request_of([canary], name="canary"))
                # the case's accepted spans and the canary, each insert finished
                expected = before + (spans - refused if status == 200 else 0) + 1
                deadline = began + 120
                while stored(proc) < expected and time.monotonic() < deadline:
                    time.sleep(0.02)
                proc.wait_stored("otel_traces", 1, f"SpanId = '{canary:016x}'", timeout=5)
                answer = f"{status}, {refused} refused" if status == 200 else str(status)
                out.append(
                    {
                        "case": name,
                        "answer": answer,
                        "it and the next span stored in s": round(time.monotonic() - began, 2),
                    }
                )
            out.append(
                {"case": "dead letters after all of the above", "answer": str(proc.get("/api/deadletters")[1]["total"])}
            )
        finally:
            proc.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--overload-seconds", type=float, default=60.0)
    parser.add_argument("--disk-mb", type=int, default=64)
    parser.add_argument("--only", choices=("kill", "disk", "overload", "poison"))
    args = parser.parse_args()
    rng = random.Random(20261201)
    results: list[dict[str, Any]] = []
    if args.only in (None, "poison"):
        results += poison()
    if args.only in (None, "kill"):
        results.append(kill_cycles(args.cycles, rng))
    if args.only in (None, "disk"):
        results.append(disk_full(args.disk_mb))
    if args.only in (None, "overload"):
        results.append(overload(args.overload_seconds))
    print()
    for r in results:
        case = r.pop("case")
        print(f"{case:<48} " + ", ".join(f"{k}: {v}" for k, v in r.items()))


if __name__ == "__main__":
    main()

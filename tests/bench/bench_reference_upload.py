"""Peak RSS of a collector process while it takes a large reference upload (``POST /api/references``).

Run with ``make bench`` or ``python tests/bench/bench_reference_upload.py --mb 200``. Builds a
JSON reference of numeric and categorical features of about the given size, posts it to a
fresh collector process (with ``api.max_reference_bytes`` raised to take it) and prints the
collector's peak RSS (VmHWM) before and after, next to one upload of the default size limit.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def reference_body(megabytes: float, features: int = 12) -> bytes:
    """``{"model", "features": {...}}`` of about ``megabytes``, the shapes a CSV export gives: a
    third floats with 4 decimals, a third small integers, a third short category strings."""
    rng = random.Random(7)
    block = 100_000
    samples = [
        ", ".join(f"{rng.gauss(50, 20):.4f}" for _ in range(block)),
        ", ".join(str(rng.randrange(100)) for _ in range(block)),
        ", ".join(f'"c{rng.randrange(50)}"' for _ in range(block)),
    ]
    per_block = sum(len(s) + 2 for s in samples) / 3
    reps = max(1, round(megabytes * 1e6 / features / per_block))
    parts = [f'"f{i}": [' + ", ".join([samples[i % 3]] * reps) + "]" for i in range(features)]
    return ('{"model": "bench", "version": "1", "features": {' + ", ".join(parts) + "}}").encode()


def vm_hwm_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def upload(megabytes: float, settings: tuple[str, ...]) -> tuple[int, float, float, float, str]:
    """(HTTP status, seconds, RSS peak before, RSS peak after, the answer's first 200 characters)."""
    from tests.integration.collector_proc import CollectorProcess

    body = reference_body(megabytes)
    with tempfile.TemporaryDirectory() as tmp:
        proc = CollectorProcess(tmp, "analysis.enabled=false", *settings).start()
        try:
            assert proc.proc is not None
            before = vm_hwm_mib(proc.proc.pid)
            request = urllib.request.Request(
                proc.api + "/api/references", data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=600) as r:
                    status, answer = r.status, r.read()
            except urllib.error.HTTPError as exc:
                status, answer = exc.code, exc.read()
            except (ConnectionError, urllib.error.URLError) as exc:
                status, answer = 0, str(exc).encode()
            seconds = time.perf_counter() - started
            after = vm_hwm_mib(proc.proc.pid)
        finally:
            proc.stop()
            proc.kill()
    return status, seconds, before, after, answer[:200].decode("utf-8", "replace")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=200.0, help="size of the large upload")
    parser.add_argument("--set", action="append", default=[], help="collector setting for every run")
    args = parser.parse_args()
    large = (*args.set, f"api.max_reference_bytes={int(args.mb * 1.1e6)}")
    rows = [(f"{args.mb:.0f} MB, limit raised", upload(args.mb, large))]
    rows.append(("same body, default limit", upload(args.mb, tuple(args.set))))
    rows.append(("30 MB, default limit", upload(30, tuple(args.set))))
    print(f"{'upload':<28} {'status':>6} {'seconds':>8} {'RSS idle MiB':>13} {'RSS peak MiB':>13}")
    for name, (status, seconds, before, after, answer) in rows:
        print(f"{name:<28} {status:>6} {seconds:>8.1f} {before:>13.0f} {after:>13.0f}   {answer[:70]}")


if __name__ == "__main__":
    main()

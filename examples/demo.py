"""``make demo``: the collector on the embedded store, a real model sending to it, and what
was stored, read back through the collector's API.

Starts ``modeltrace collector run`` (chDB under ./modeltrace-data), runs the wine example
against it, then prints calls per model and version, latency percentiles and the top
hotspots, then the analysis story (drift, a slow release and its root cause). It ends by
printing the web UI's address and the pages worth opening, and keeps the collector serving
until Ctrl-C; ``--exit`` (or ``MODELTRACE_DEMO_EXIT=1``) stops it at the end instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free port")


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 -- a fixed http:// address
        return json.loads(r.read())  # type: ignore[no-any-return]


def wait_ready(api: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the collector exited with {proc.returncode}")
        try:
            get(api + "/ready")
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    raise SystemExit("the collector did not become ready")


def cli(api: str, *command: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "modeltrace_collector", command[0], "--api-url", api, *command[1:]], check=True
    )


def story(api: str, grpc_port: int) -> None:
    """Drift, a slow release and its root cause, found by the collector's analysis."""
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    import modeltrace

    print("\n== the analysis story")
    data = load_wine(as_frame=True)
    x_train, _, _, _ = train_test_split(data.data, data.target, random_state=0)
    ref = modeltrace.set_reference("wine-quality", x_train, api_url=api)
    print(f"uploaded the training data as the drift reference of wine-quality ({ref})")
    endpoint = f"http://127.0.0.1:{grpc_port}"
    worker = [sys.executable, os.path.join(HERE, "wine_story.py"), "--endpoint", endpoint]
    for phase, minutes, ends_ago, text in (
        ("baseline", 60, 15, "an hour of normal traffic: version 1.0 on node-a and node-b"),
        ("incident", 15, 0, "the last 15 minutes: version 2.0 deployed (slow on node-b), alcohol values drift up"),
    ):
        print(f"sending {text} ...")
        procs = [
            subprocess.Popen(
                [*worker, "--host", host, "--phase", phase, "--minutes", str(minutes), "--ends-ago", str(ends_ago)]
            )
            for host in ("node-a", "node-b")
        ]
        for proc in procs:
            if proc.wait() != 0:
                raise SystemExit(f"the {phase} traffic failed")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and get(api + "/ready").get("spool_records"):
        time.sleep(0.3)
    time.sleep(1.5)  # let the last batch commit
    print("\n== running the analysis (the collector also runs it every minute)")
    cli(api, "analyze", "--model", "wine-quality")
    print("\n== findings")
    cli(api, "findings", "--model", "wine-quality", "--status", "open")
    findings = get(api + "/api/findings?model=wine-quality&kind=latency&status=open")["findings"]
    if findings:
        print(f"\n== root causes of the latency anomaly {findings[0]['id']}")
        cli(api, "rca", findings[0]["id"])
    print("\n== drift of wine-quality against its training data")
    cli(api, "drift", "wine-quality", "--version", "2.0")


def print_tour(api: str) -> None:
    """The web UI's address and the pages that tell the story."""
    latency = get(api + "/api/findings?model=wine-quality&kind=latency&status=open")["findings"]
    pages = [
        ("every model", "/#/models"),
        ("wine-quality: latency, drift, hotspots", "/#/model/wine-quality?range=2h"),
    ]
    if latency:
        pages.append(("the latency finding and its causes", f"/#/finding/{latency[0]['id']}"))
    pages += [
        ("the slowest calls of the last 15 minutes", "/#/traces?model=wine-quality&order=slowest&range=15m"),
        ("SQL over the same tables", "/#/sql"),
    ]
    print(f"\n== the web UI: open {api}/ in a browser")
    for title, path in pages:
        print(f"  {title + ':':<42} {api}{path}")
    print(
        f"\nthe collector keeps serving at {api} (the README's tour runs against it from another terminal: "
        f"modeltrace models --api-url {api}); Ctrl-C stops it"
    )


DEMO_DIR = "modeltrace-demo-data"
MARKER = ".modeltrace-demo"


def fresh_demo_dir(path: str) -> None:
    """Every run starts from an empty store, so that it shows the same findings: the demo's
    own directory (it holds the marker file) is emptied; any other directory is kept as it is."""
    if os.path.isfile(os.path.join(path, MARKER)):
        shutil.rmtree(path)
    if not os.path.exists(path):
        os.makedirs(path)
        with open(os.path.join(path, MARKER), "w", encoding="utf-8") as f:
            f.write("made by examples/demo.py: emptied at the start of every demo run\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--exit", action="store_true", help="stop the collector at the end instead of serving until Ctrl-C"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the default; kept for old scripts
    parser.add_argument("--data-dir", default=DEMO_DIR, help="starts empty at every run when it is the demo's own")
    args = parser.parse_args()
    # Ctrl-C stops the demo even when it was started with SIGINT ignored (a shell's background
    # job, nohup): Python then installs no KeyboardInterrupt handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    fresh_demo_dir(args.data_dir)
    grpc_port, http_port, api_port = free_port(4317), free_port(4318), free_port(8080)
    jaeger_port = free_port(17271)
    api = f"http://127.0.0.1:{api_port}"
    cmd = [
        sys.executable, "-m", "modeltrace_collector", "collector", "run", "--data-dir", args.data_dir,
        "--grpc", f"127.0.0.1:{grpc_port}", "--http", f"127.0.0.1:{http_port}", "--api", f"127.0.0.1:{api_port}",
        "--jaeger-grpc", f"127.0.0.1:{jaeger_port}",
        "--set", "writer.max_delay_seconds=0.5", "--set", "log_level=warning",
    ]  # fmt: skip
    print(f"starting the collector (embedded ClickHouse in {args.data_dir}/chdb) ...")
    collector = subprocess.Popen(cmd)
    try:
        wait_ready(api, collector)
        print(
            f"collector ready: OTLP gRPC :{grpc_port}, OTLP HTTP :{http_port}, API {api}, "
            f"Jaeger storage gRPC :{jaeger_port}\n"
        )
        print("running the wine model: 200 online requests with ground truth, then a batch job ...")
        subprocess.run(
            [sys.executable, os.path.join(HERE, "sklearn_wine.py"), "--endpoint", f"http://127.0.0.1:{grpc_port}",
             "--requests", "200"],
            check=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = get(api + "/ready")
            if ready.get("spool_records") == 0 and get(api + "/api/models").get("models"):
                break
            time.sleep(0.3)
        time.sleep(1.0)  # let the last batch commit
        for title, command in (
            ("models and versions", ["models"]),
            ("latency per model and version (last hour)", ["latency"]),
            ("top hotspots of wine-quality", ["hotspots", "wine-quality", "--limit", "5"]),
        ):
            print(f"\n== {title}")
            subprocess.run(
                [sys.executable, "-m", "modeltrace_collector", command[0], "--api-url", api, *command[1:]], check=True
            )
        print("\n== the same data with SQL")
        subprocess.run(
            [sys.executable, "-m", "modeltrace_collector", "sql", "--api-url", api,
             "SELECT SpanName, count() AS spans, round(quantile(0.99)(Duration) / 1e6, 2) AS p99_ms "
             "FROM modeltrace.otel_traces GROUP BY SpanName ORDER BY spans DESC"],
            check=True,
        )  # fmt: skip
        story(api, grpc_port)
        print_tour(api)
        if not (args.exit or os.environ.get("MODELTRACE_DEMO_EXIT") == "1"):
            sys.stdout.flush()
            collector.wait()
    except KeyboardInterrupt:
        print("\nstopping ...")
    finally:
        if collector.poll() is None:
            collector.send_signal(signal.SIGTERM)
            try:
                collector.wait(60)
            except subprocess.TimeoutExpired:
                collector.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())

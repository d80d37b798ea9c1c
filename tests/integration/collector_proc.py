"""A real collector subprocess on free loopback ports, for integration tests."""

from __future__ import annotations

import atexit
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from tests import engines
from tests.otlp_receiver import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


_started: list[subprocess.Popen[bytes]] = []


@atexit.register
def _kill_leftovers() -> None:
    """A test that failed before stopping its collector leaves no process behind the run."""
    for proc in _started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class CollectorProcess:
    def __init__(
        self, data_dir: str, *settings: str, dsn: str | None = None, code_root: str | None = None,
        context: ssl.SSLContext | None = None, token: str | None = None,
    ) -> None:  # fmt: skip
        """``code_root``: a checkout whose collector runs instead of this one (benchmarks);
        ``context``: how to reach an API served over TLS; ``token``: the API key its helpers send."""
        self.data_dir = data_dir
        self.code_root = code_root
        self.context = context
        self.token = token
        self.grpc_port, self.http_port, self.api_port = free_port(), free_port(), free_port()
        self.jaeger_port = free_port()
        self.settings = list(settings)
        self.dsn = dsn
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = os.path.join(data_dir, "collector.log")

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def api(self) -> str:
        return f"{'https' if self.context else 'http'}://127.0.0.1:{self.api_port}"

    def start(self, wait_ready: bool = True) -> CollectorProcess:
        os.makedirs(self.data_dir, exist_ok=True)
        cmd = [
            sys.executable, *engines.collector_module(), "collector", "run",
            "--data-dir", self.data_dir,
            "--grpc", f"127.0.0.1:{self.grpc_port}",
            "--http", f"127.0.0.1:{self.http_port}",
            "--api", f"127.0.0.1:{self.api_port}",
            "--jaeger-grpc", f"127.0.0.1:{self.jaeger_port}",
            "--set", "writer.max_delay_seconds=0.2",
        ]  # fmt: skip
        if self.dsn:
            cmd += ["--storage-dsn", self.dsn]
        for s in self.settings:
            cmd += ["--set", s]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MODELTRACE_"))}
        root = self.code_root or ROOT
        env["PYTHONPATH"] = os.pathsep.join([root + "/collector", root + "/sdk", root]) if self.code_root else ROOT
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.data_dir)
        _started.append(self.proc)
        log.close()
        self.wait_until(lambda: self._get("/health") is not None, what="the API to answer")
        if wait_ready:
            self.wait_until(lambda: self._get("/ready") is not None, what="readiness")
        return self

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-5000:]
        except OSError:
            return ""

    def wait_until(self, predicate: Any, timeout: float = 60.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"collector exited with {self.proc.returncode}:\n{self.log()}")
            if predicate():
                return
            time.sleep(0.1)
        raise TimeoutError(f"timed out waiting for {what}:\n{self.log()}")

    def _get(self, path: str) -> Any:
        try:
            with self._open(urllib.request.Request(self.api + path), 5) as r:
                return json.loads(r.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            return None

    def _open(self, request: urllib.request.Request, timeout: float) -> Any:
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        return urllib.request.urlopen(request, timeout=timeout, context=self.context)

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with self._open(urllib.request.Request(self.api + path), 30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def post(self, path: str, body: Any = None, timeout: float = 300) -> Any:
        """POST ``body`` as JSON (an empty body when None) and return the JSON answer; raises
        urllib's HTTPError on an error status."""
        data = json.dumps(body).encode() if body is not None else b""
        request = urllib.request.Request(
            self.api + path, data=data, headers={"Content-Type": "application/json"}, method="POST"
        )
        with self._open(request, timeout) as r:
            return json.loads(r.read())

    def sql(self, query: str, **parameters: Any) -> list[list[Any]]:
        try:
            return self.post("/api/sql", {"query": query, "parameters": parameters}, timeout=30)["rows"]  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"SQL failed ({exc.code}): {exc.read().decode()}\n{query}") from None

    def count(self, table: str, where: str = "1") -> int:
        return int(self.sql(f"SELECT count() FROM modeltrace.{table} WHERE {where}")[0][0])

    def wait_stored(self, table: str, n: int, where: str = "1", timeout: float = 60.0) -> None:
        self.wait_until(lambda: self.count(table, where) >= n, timeout, f"{n} rows in {table}")

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

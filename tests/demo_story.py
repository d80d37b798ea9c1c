"""``examples/demo.py`` run as a user runs it: it tells its story, prints the web UI's pages and
keeps serving until Ctrl-C. One run serves the demo's test and the browser tests."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVING = re.compile(r"the collector keeps serving at (http://127\.0\.0\.1:\d+)")
READY = re.compile(r"collector ready: OTLP gRPC :(\d+), OTLP HTTP :(\d+)")


class DemoStory:
    def __init__(self, data_dir: str, cwd: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MODELTRACE_"))}
        env["PYTHONPATH"] = ROOT
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "examples", "demo.py"), "--data-dir", data_dir],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.api = ""
        self.grpc_port = self.http_port = 0

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    @property
    def text(self) -> str:
        return "".join(self.output)

    def wait_serving(self, timeout: float = 400) -> str:
        """The API's URL once the demo has told its story and serves; its output so far is ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the demo exited with {self.proc.wait()}:\n{self.text[-4000:]}")
            self.output.append(line)
            ready = READY.search(line)
            if ready:
                self.grpc_port, self.http_port = int(ready.group(1)), int(ready.group(2))
            found = SERVING.search(line)
            if found:
                self.api = found.group(1)
                return self.api
        raise AssertionError(f"the demo did not serve within {timeout} s:\n{self.text[-4000:]}")

    def stop(self) -> int:
        """Ctrl-C, as a user stops it; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        while True:
            try:
                line = self.lines.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                break
            self.output.append(line)
        return self.proc.returncode

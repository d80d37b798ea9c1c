"""The web UI's files: complete, unchanged where vendored, calling only described API routes,
and served with their security headers (and without a token: they hold no data)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.error
import urllib.request
from typing import Any

import pytest

from modeltrace_collector.api import openapi
from modeltrace_collector.api.static import StaticFiles

UI = os.path.join(os.path.dirname(__file__), "..", "..", "collector", "modeltrace_collector", "ui")


def ui_text(name: str) -> str:
    with open(os.path.join(UI, name), encoding="utf-8") as f:
        return f.read()


def test_vendored_files_are_the_recorded_release_with_its_licence():
    sums = ui_text("vendor/SHA256SUMS").split("\n")
    recorded = dict(reversed(line.split()) for line in sums if line.strip())
    assert set(recorded) == {"uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"}
    for name, digest in recorded.items():
        with open(os.path.join(UI, "vendor", name), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == digest, name
    assert "MIT License" in ui_text("vendor/uPlot.LICENSE")
    assert "1.6.32" in ui_text("vendor/README.md")


def test_every_file_the_page_loads_is_served():
    served = set(StaticFiles().names())
    page = ui_text("index.html")
    wanted = {m[len("/ui/") :] for m in re.findall(r'(?:src|href)="(/ui/[^"]+)"', page)}
    for name in [n for n in served if n.endswith(".js")]:
        wanted |= set(re.findall(r'from "\./([^"]+)"', ui_text(name)))
    assert wanted and wanted <= served, wanted - served
    # no file reaches outside: no CDN, no absolute URL
    for name in served:
        if name.endswith((".js", ".html", ".css")) and not name.startswith("vendor/"):
            assert not re.search(r"""(src|href|import|from)\s*=?\s*["']https?://""", ui_text(name)), name


def test_every_api_route_the_ui_calls_is_described():
    paths = set(json.loads(openapi.document())["paths"])
    called = set()
    for name in os.listdir(UI):
        if name.endswith(".js"):
            called |= set(re.findall(r'api\("(/api/[a-z/_]+)"', ui_text(name)))
    assert len(called) >= 12, called
    for path in called:
        # a route ending in an id: the UI appends it ("/api/findings/" + id)
        templates = {path, path + "{finding_id}", path + "{trace_id}"}
        assert templates & paths, path


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    from tests.integration.collector_proc import CollectorProcess

    proc = CollectorProcess(
        str(tmp_path_factory.mktemp("ui")),
        "auth.tokens=read:reader-token-0123456789",
        "analysis.enabled=false",
        token="reader-token-0123456789",
    ).start()
    yield proc
    proc.stop()
    proc.kill()


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


@pytest.mark.slow
def test_the_ui_is_served_without_a_token_and_its_data_needs_one(keyed):
    status, body, headers = fetch(keyed.api + "/")
    assert status == 200 and b'<main id="page">' in body
    assert headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, body, headers = fetch(keyed.api + "/ui/app.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert fetch(keyed.api + "/ui/app.js", {"If-None-Match": headers["ETag"]})[0] == 304
    assert fetch(keyed.api + "/ui/vendor/uPlot.iife.min.js")[0] == 200
    for missing in ("/ui/nope.js", "/ui/../config.py", "/ui/%2e%2e/auth.py", "/ui/vendor/SHA256SUMS"):
        assert fetch(keyed.api + missing)[0] == 404, missing
    # the data: 401 without the read key, 200 with it
    assert fetch(keyed.api + "/api/overview")[0] == 401
    status, body, _ = fetch(keyed.api + "/api/overview", {"Authorization": "Bearer reader-token-0123456789"})
    assert status == 200 and json.loads(body)["models"] == []


@pytest.mark.slow
def test_the_ui_can_be_turned_off(tmp_path):
    from tests.integration.collector_proc import CollectorProcess

    proc = CollectorProcess(str(tmp_path), "api.ui=false", "analysis.enabled=false").start()
    try:
        status, body, _ = fetch(proc.api + "/")
        assert status == 404 and "no route /" in json.loads(body)["error"]
    finally:
        proc.stop()
        proc.kill()


@pytest.mark.slow
def test_a_web_page_cannot_make_a_browser_change_the_collector(tmp_path):
    """Without keys (the loopback default), a form or text POST from any web page would reach
    the API: a POST must be JSON, and one naming another origin is refused."""
    from tests.integration.collector_proc import CollectorProcess

    proc = CollectorProcess(str(tmp_path), "analysis.enabled=false").start()
    body = b'{"model": "wine-api", "features": {"x": [1, 2, 3]}}'

    def post(headers: dict[str, str]) -> tuple[int, bytes]:
        request = urllib.request.Request(proc.api + "/api/references", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    try:
        status, raw = post({"Content-Type": "text/plain"})
        assert status == 403 and "application/json" in json.loads(raw)["error"]
        status, raw = post({"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 403
        status, raw = post({"Content-Type": "application/json", "Origin": "http://evil.example"})
        assert status == 403 and "another origin" in json.loads(raw)["error"]
        # the API's own page, and clients that send no Origin (the CLI, the SDK), are served
        own = proc.api.split("://", 1)[1]
        assert post({"Content-Type": "application/json", "Origin": proc.api})[0] == 201, own
        assert post({"Content-Type": "application/json; charset=utf-8"})[0] == 201
    finally:
        proc.stop()
        proc.kill()

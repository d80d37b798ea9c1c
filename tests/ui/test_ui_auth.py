"""The web UI on a collector with API keys: the page asks for a read key, refuses a wrong one,
keeps a good one for the tab; and a trace links to the configured Jaeger UI."""

from __future__ import annotations

import urllib.request

import pytest

from tests.integration.collector_proc import CollectorProcess
from tests.ui.big_trace import big_trace_request
from tests.ui.test_ui import wait_ready

pytestmark = pytest.mark.slow
READ = "read-key-0123456789abcdef"
INGEST = "ingest-key-0123456789abcdef"
TRACE = "0a" * 16


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    proc = CollectorProcess(
        str(tmp_path_factory.mktemp("ui-auth")),
        f"auth.tokens=read:{READ},ingest:{INGEST}",
        "api.jaeger_ui_url=https://jaeger.example.com/",
        "analysis.enabled=false",
        token=READ,
    ).start()
    request = urllib.request.Request(
        f"http://127.0.0.1:{proc.http_port}/v1/traces",
        data=big_trace_request(TRACE),
        headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {INGEST}"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status == 200
    proc.wait_stored("otel_traces", 10_051)
    yield proc
    proc.stop()
    proc.kill()


def test_the_page_asks_for_a_read_key_and_links_traces_to_jaeger(page, keyed):
    page.goto(keyed.api + f"/#/trace/{TRACE}")
    dialog = page.locator("#token-dialog")
    dialog.wait_for()
    # the ingest key is a key, but not one that reads
    page.fill("#token-input", INGEST)
    page.click("#token-dialog button[type=submit]")
    page.wait_for_selector("#token-dialog .error")
    assert "does not have the read scope" in page.locator("#token-dialog").inner_text()
    page.fill("#token-input", READ)
    page.click("#token-dialog button[type=submit]")
    wait_ready(page)
    link = page.locator("a", has_text="Open in Jaeger")
    assert link.get_attribute("href") == f"https://jaeger.example.com/trace/{TRACE}"
    assert link.get_attribute("rel") == "noopener"
    # the key is kept for the tab: another page needs no dialog
    page.goto(keyed.api + "/#/models?range=1h")
    page.wait_for_selector("tr[data-model='fraud']")
    assert page.locator("#token-dialog").count() == 0
    # the only console errors: the browser's own note of the refused requests
    assert [e for e in page.console.errors if "401" not in e and "403" not in e] == []

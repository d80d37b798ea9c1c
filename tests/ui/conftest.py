"""The browser tests: Playwright driving Debian's Chromium (never a downloaded build).

Under CI (``REQUIRE_BROWSER_TESTS=1``, set by ``.ci/run``) a missing browser fails these
tests; elsewhere they are skipped with the reason, which ``pytest -ra`` prints at the end.
Screenshots of every page go to ``test-artifacts/ui`` (or ``$TEST_ARTIFACTS_DIR/ui``).
"""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(os.environ.get("TEST_ARTIFACTS_DIR") or os.path.join(ROOT, "test-artifacts"), "ui")


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def browser():
    missing = _missing()
    if missing:
        if os.environ.get("REQUIRE_BROWSER_TESTS") == "1":
            pytest.fail(f"the browser tests must run here: {missing}")
        pytest.skip(f"browser tests not run: {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"], headless=True
        )
        yield chromium
        chromium.close()


class Console:
    """A page's console errors and uncaught exceptions."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.console = Console(page)
    yield page
    context.close()


def screenshot(page, name: str) -> str:
    """The whole page, and its first screen (``<name>-screen.png``: what the README shows)."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, f"{name}.png")
    page.screenshot(path=path, full_page=True)
    page.screenshot(path=os.path.join(ARTIFACTS, f"{name}-screen.png"))
    return path

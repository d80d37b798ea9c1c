import pytest

from modeltrace._internal import errors
from tests import engines


def pytest_addoption(parser):
    parser.addoption(
        "--clickhouse",
        choices=engines.VERSIONS,
        default="26",
        help="the embedded ClickHouse of the storage tests: 26 (chdb-core) or 24.8 (chdb 2.1.1, see tests/engines)",
    )


def pytest_configure(config):
    try:
        engines.use(config.getoption("--clickhouse"))
    except RuntimeError as exc:  # this venv's chdb is not the one asked for
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture(scope="session")
def clickhouse_version():
    """The ClickHouse version the storage tests were asked to run on (``--clickhouse``)."""
    return engines.selected


@pytest.fixture(scope="session")
def demo_story(tmp_path_factory):
    """``make demo``'s program, serving after its story (shared by the demo's test and the UI's)."""
    from tests.demo_story import DemoStory

    tmp = tmp_path_factory.mktemp("demo")
    story = DemoStory(str(tmp / "data"), str(tmp))
    try:
        story.wait_serving()
        yield story
    finally:
        code = story.stop()
    # Ctrl-C stops the demo cleanly: the collector drained and the demo exited 0
    assert code == 0, story.text[-3000:]


@pytest.fixture(autouse=True)
def raise_internal_errors(monkeypatch):
    """Internal failures surface in tests; tests of the safety net turn this off."""
    monkeypatch.setattr(errors, "raise_internal_errors", True)
    errors.reset_error_counts()
    yield

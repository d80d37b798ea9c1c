import pytest

from tests.integration.collector_proc import CollectorProcess


@pytest.fixture
def collector(tmp_path):
    proc = CollectorProcess(str(tmp_path / "collector")).start()
    yield proc
    proc.stop()
    proc.kill()

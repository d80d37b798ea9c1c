import uuid

import pytest

from modeltrace_collector.storage import client as client_module
from modeltrace_collector.storage.client import resolve
from modeltrace_collector.storage.migrate import SchemaOptions
from modeltrace_collector.storage.store import Store
from tests import engines


@pytest.fixture(scope="session")
def chdb_target(tmp_path_factory):
    # chDB serves one data directory per process: the whole test session shares it and
    # each test gets its own database.
    return resolve(f"chdb://{tmp_path_factory.mktemp('chdb')}", ".")


@pytest.fixture(scope="session")
def chdb_client(chdb_target):
    client = client_module.connect(chdb_target)  # looked up now: --clickhouse may have replaced it
    yield client
    client.close()


@pytest.fixture
def store(chdb_target, chdb_client):
    options = SchemaOptions(database=f"t_{uuid.uuid4().hex[:12]}")
    s = Store(chdb_target, options, client=chdb_client)
    with engines.one_call(chdb_client):
        s.migrate()
    yield s
    chdb_client.command(f"DROP DATABASE IF EXISTS `{options.database}`")

import uuid

import pytest

from modeltrace_collector.storage.client import connect, resolve
from modeltrace_collector.storage.migrate import SchemaOptions
from modeltrace_collector.storage.store import Store


@pytest.fixture(scope="session")
def chdb_target(tmp_path_factory):
    # chDB serves one data directory per process: the whole test session shares it and
    # each test gets its own database.
    return resolve(f"chdb://{tmp_path_factory.mktemp('chdb')}", ".")


@pytest.fixture(scope="session")
def chdb_client(chdb_target):
    client = connect(chdb_target)
    yield client
    client.close()


@pytest.fixture
def store(chdb_target, chdb_client):
    options = SchemaOptions(database=f"t_{uuid.uuid4().hex[:12]}")
    s = Store(chdb_target, options, client=chdb_client)
    s.migrate()
    yield s
    chdb_client.command(f"DROP DATABASE IF EXISTS `{options.database}`")

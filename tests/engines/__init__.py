"""The embedded ClickHouse the storage tests run on.

By default chdb-core (ClickHouse 26.x), the product's own. ``pytest --clickhouse=24.8``, in the
venv ``make test`` builds with chdb 2.1.1 instead (``.venv-ch248``), runs them on ClickHouse
24.8.4, the oldest server version the product supports: every client the product makes, in the
test process and in the collector processes the tests start, then comes from ``chdb_legacy``.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
from typing import Any

VERSIONS = ("26", "24.8")
selected = "26"


def use(version: str) -> None:
    """Run this process's storage on ClickHouse ``version`` (one of ``VERSIONS``)."""
    global selected
    if version == "24.8":
        from . import chdb_legacy

        chdb_legacy.install()
    elif _installed("chdb"):  # chdb 2.1.1's distribution; the product's is chdb-core
        raise RuntimeError("chdb 2.1.1 is installed here: run these tests with --clickhouse=24.8")
    selected = version


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def legacy() -> bool:
    return selected == "24.8"


def collector_module() -> list[str]:
    """``python`` arguments that run the collector's CLI on the selected engine."""
    return ["-m", "tests.engines.launch"] if legacy() else ["-m", "modeltrace_collector"]


def one_call(client: Any) -> contextlib.AbstractContextManager[None]:
    """On 24.8 the commands and inserts of the block run as one engine call (see
    ``chdb_legacy.one_call``): for fixtures that build a schema. Elsewhere nothing changes."""
    if legacy():
        from . import chdb_legacy

        return chdb_legacy.one_call(client)
    return contextlib.nullcontext()

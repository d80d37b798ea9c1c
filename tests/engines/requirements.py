"""Prints the requirements of the ClickHouse 24.8 test venv, one a line, from pyproject.toml.

The collector's dependencies with chdb 2.1.1 (ClickHouse 24.8.4) instead of chdb-core (both
install the module ``chdb``), and the test tools the tests run there need.
"""

from __future__ import annotations

import pathlib
import re

import tomllib

LEGACY_CHDB = "chdb==2.1.1"
TEST_TOOLS = {"pytest", "pytest-timeout", "scikit-learn", "scipy"}


def name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def requirements(pyproject: pathlib.Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    wanted = [*project["dependencies"], *extras["collector"], *(r for r in extras["dev"] if name(r) in TEST_TOOLS)]
    out = [r for r in dict.fromkeys(wanted) if name(r) != "chdb-core"]
    return [*out, LEGACY_CHDB]


if __name__ == "__main__":
    print("\n".join(requirements(pathlib.Path(__file__).resolve().parents[2] / "pyproject.toml")))

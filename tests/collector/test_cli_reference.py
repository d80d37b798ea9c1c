"""``modeltrace reference`` with a file it cannot read: a message naming the file, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("bad.csv", b'a,b\n1,2\n3\n"unterminated\n', "cannot read {path} as CSV: Error tokenizing data"),
        ("bad.parquet", b"PAR1 not parquet", "cannot read {path} as Parquet:"),
        ("empty.csv", b"", "cannot read {path} as CSV: No columns to parse"),
        ("header-only.csv", b"a,b\n", "{path} holds no rows"),
        ("missing.csv", None, "cannot read {path} as CSV: [Errno 2] No such file"),
    ],
)
def test_a_bad_reference_file_is_named_with_what_is_wrong(tmp_path, name, content, says):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run(
        [sys.executable, "-m", "modeltrace_collector", "reference", "m", str(path), "--api-url", "http://127.0.0.1:9"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("modeltrace: " + says.format(path=path)), done.stderr

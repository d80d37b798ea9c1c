"""The CLI's tables: numbers readable at any scale, times with their zone, built-ins named."""

from __future__ import annotations

from modeltrace_collector.cli_api import print_table


def test_cells_say_what_they_hold(capsys):
    print_table(
        [
            {"feature": "alcohol", "score": 1.7e-40, "psi": 3.96712, "first_seen": "2026-12-01T16:21:05.123456"},
            {"feature": "ph", "score": 0.0, "psi": 0.0004, "first_seen": "2026-12-01T16:21:05+00:00"},
        ]
    )
    out = capsys.readouterr().out
    assert "1.7e-40" in out and "0.000 " in out and "3.967" in out and "0.0004" in out
    assert out.count("2026-12-01 16:21:05 UTC") == 2


def test_builtin_functions_are_named_as_such(capsys):
    print_table([{"function": "<built-in method time.sleep>", "file": "~", "line": 0},
                 {"function": "predict", "file": "/srv/app/model.py", "line": 12}])  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert "(built-in)" in out[2] and " 0" not in out[2] and "~" not in out[2]
    assert out[3].rstrip().endswith("12")

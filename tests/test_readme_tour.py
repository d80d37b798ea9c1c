"""The README's tour after `make demo` runs as written against the demo's collector."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow


def tour_commands() -> list[str]:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("## After `make demo`", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the tour's commands are in a sh block"
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_tour_runs_as_written(demo_story):
    commands = tour_commands()
    assert commands[0] == "source .venv/bin/activate"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MODELTRACE_"))}
    env.update(PYTHONPATH=ROOT, MODELTRACE_API_URL=demo_story.api)
    outputs = {}
    for command in commands[1:]:
        argv = shlex.split(command.replace("http://127.0.0.1:8080", demo_story.api))
        if argv[0] == "modeltrace":
            argv = [sys.executable, "-m", "modeltrace_collector", *argv[1:]]
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, (command, done.stderr[-2000:])
        assert done.stdout.strip(), command
        outputs[command.split()[1] if argv[0] == sys.executable else argv[0]] = done.stdout
    # what the tour promises to show
    rca = outputs["rca"].splitlines()
    top = next(line for line in rca if line.startswith("1 "))
    assert "2.0" in top and "node-b" in top, outputs["rca"]
    assert "alcohol" in outputs["drift"]
    assert "accuracy" in outputs["performance"] or "f1" in outputs["performance"], outputs["performance"]
    assert "node-b" in outputs["sql"]
    assert '"models"' in outputs["curl"]

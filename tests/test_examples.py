"""The examples run as the README says, and print what they promise."""

import os
import subprocess
import sys
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.slow


def run(*args, cwd=ROOT):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MODELTRACE_"))}
    env["PYTHONPATH"] = ROOT
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_sklearn_example_prints_its_spans():
    out = run("examples/sklearn_wine.py")
    assert "201 spans produced" in out
    assert "predict_proba wine-quality" in out and "ml.input.sample" in out and "ml.actual = [" in out


def test_torch_example_prints_its_spans():
    out = run("examples/torch_mlp.py")
    assert "50 spans of 'predict digits'" in out
    assert "input columns: 64" in out and '"label":[' in out


def test_demo_runs_the_collector_and_reads_back(demo_story):
    out = demo_story.text
    assert "collector ready" in out
    lines = out.splitlines()
    assert any(line.split()[:3] == ["wine-api", "1.0", "200"] for line in lines)  # models: 200 calls
    assert any(line.startswith("wine-quality") and "predict_proba" in line for line in lines)  # latency
    assert "top hotspots of wine-quality" in out
    # the story's findings, on any machine: its latencies are scripted, not timed
    findings = [line for line in lines if line[:16].strip() and "wine-quality  2.0" in line and "open" in line]
    assert any(" drift " in f and "input.alcohol" in f for f in findings), out[-4000:]
    assert any(" latency " in f for f in findings), out[-4000:]
    rca = out.split("== root causes of the latency anomaly", 1)[1].split("\n== ", 1)[0]
    top = next(line for line in rca.splitlines() if line.startswith("1 "))
    assert "model.version" in top and "2.0" in top and "node-b" in top, rca
    # it ends with the web UI's pages and keeps serving them
    tour = out.split("== the web UI: open", 1)[1]
    assert f"{demo_story.api}/#/models" in tour and "/#/finding/" in tour, tour
    with urllib.request.urlopen(demo_story.api + "/", timeout=10) as answer:
        assert b"modeltrace" in answer.read()


def test_every_demo_run_starts_from_an_empty_store_and_keeps_other_directories(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo", os.path.join(ROOT, "examples", "demo.py"))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    own = tmp_path / "demo-data"
    demo.fresh_demo_dir(str(own))
    (own / "chdb").mkdir()
    (own / "chdb" / "part").write_text("from an earlier run")
    demo.fresh_demo_dir(str(own))
    assert sorted(p.name for p in own.iterdir()) == [demo.MARKER]
    other = tmp_path / "a-users-store"
    (other / "chdb").mkdir(parents=True)
    (other / "chdb" / "part").write_text("keep me")
    demo.fresh_demo_dir(str(other))
    assert (other / "chdb" / "part").read_text() == "keep me"

"""Findings' life in ml_findings: an open finding that gets worse is announced again."""

from __future__ import annotations

import pytest

from modeltrace_collector.analysis.findings import Finding, FindingStore, alert_payload

T = 1_790_000_000_000


def _latency(severity: str, end_ms: int, escalations: int = 0) -> Finding:
    rises = [
        {"start_ms": T + k, "detected_ms": T + k, "metric": "p95", "from_ms": 1.0, "to_ms": 2.0}
        for k in range(escalations)
    ]
    return Finding(
        kind="latency", model="m", version="1", operation="predict", subject="duration", score=7.0, threshold=5.0,
        severity=severity, window_start_ms=T, window_end_ms=end_ms,
        evidence={"summary": "p95 20 ms vs baseline 10 ms", "escalations": rises,
                  "root_causes": [{"dimension": "host.name", "value": f"node-{i}", "evidence": "...", "score": 0.5,
                                   "p_value": 1e-9} for i in range(5)]},
    )  # fmt: skip


def test_an_open_finding_that_gets_worse_is_announced_as_escalated(store):
    findings = FindingStore(store)
    events = findings.reconcile(("latency",), [_latency("info", T + 60_000)], T + 60_000)
    assert [e for e, _ in events] == ["opened"]
    # longer, same severity: stored, not announced
    assert findings.reconcile(("latency",), [_latency("info", T + 120_000)], T + 120_000) == []
    # a higher severity, then a further rise: each announced once
    (event,) = findings.reconcile(("latency",), [_latency("critical", T + 180_000)], T + 180_000)
    assert event[0] == "escalated" and event[1].id == events[0][1].id
    (event,) = findings.reconcile(("latency",), [_latency("critical", T + 240_000, escalations=1)], T + 240_000)
    assert event[0] == "escalated"
    assert findings.reconcile(("latency",), [_latency("critical", T + 300_000, escalations=1)], T + 300_000) == []
    (stored,) = findings.open_findings(("latency",))
    assert stored.severity == "critical" and len(stored.evidence["escalations"]) == 1


def test_an_alert_carries_the_summary_and_the_top_three_causes():
    payload = alert_payload("opened", _latency("warning", T + 60_000))
    assert payload["summary"] == "p95 20 ms vs baseline 10 ms"
    assert [c["value"] for c in payload["causes"]] == ["node-0", "node-1", "node-2"]
    assert set(payload["causes"][0]) == {"dimension", "value", "evidence", "score"}
    assert payload["finding"]["evidence"]["root_causes"][4]["value"] == "node-4"


def _episode(start_ms: int, end_ms: int, resolved_ms: int | None) -> Finding:
    return Finding(
        kind="latency", model="m", version="1", operation="predict", subject="duration", score=7.0, threshold=5.0,
        severity="warning", window_start_ms=start_ms, window_end_ms=end_ms, resolved_ms=resolved_ms,
        evidence={"summary": "p95 20 ms vs baseline 10 ms"},
    )  # fmt: skip


def test_episodes_between_two_runs_are_each_announced_and_kept_apart(store):
    """Runs far apart: the open episode ended and another of the same subject began since the
    last run; and an episode began and ended entirely between two runs. Each is its own finding,
    announced as it happened, not folded into the one that was open."""
    findings = FindingStore(store)
    minute = 60_000
    (first,) = findings.reconcile(("latency",), [_episode(T, T + 5 * minute, None)], T + 5 * minute, episodes=True)
    assert first[0] == "opened"
    # an hour later: the first ended at +20 min, a second opened at +40 and is still open
    later = [_episode(T, T + 20 * minute, T + 25 * minute), _episode(T + 40 * minute, T + 60 * minute, None)]
    events = findings.reconcile(("latency",), later, T + 60 * minute, episodes=True)
    assert [(e, f.window_start_ms) for e, f in events] == [("resolved", T), ("opened", T + 40 * minute)]
    assert events[0][1].id == first[1].id != events[1][1].id
    # two hours later: the second ended, and a third began and ended, all between the runs
    gone = [
        _episode(T + 40 * minute, T + 70 * minute, T + 75 * minute),
        _episode(T + 90 * minute, T + 95 * minute, T + 100 * minute),
    ]
    events = findings.reconcile(("latency",), gone, T + 120 * minute, episodes=True)
    assert [(e, f.window_start_ms) for e, f in events] == [
        ("resolved", T + 40 * minute), ("opened", T + 90 * minute), ("resolved", T + 90 * minute),
    ]  # fmt: skip
    assert findings.open_findings(("latency",)) == []
    assert len({f.id for f in findings.list(kind="latency")}) == 3
    # the same report again announces nothing
    assert findings.reconcile(("latency",), gone, T + 121 * minute, episodes=True) == []


def test_a_stopping_collector_ends_a_pass_early_on_daemon_threads():
    """The drift reports run on daemon threads that stop taking versions once the collector
    stops (a worker joined at exit held ``make demo``'s Ctrl-C up past 90 s)."""
    import threading
    import time

    from modeltrace_collector.analysis.runner import Stopping, _in_threads

    stopping = threading.Event()
    started = []

    def slow(item):
        started.append(threading.current_thread())
        if len(started) == 2:
            stopping.set()
        time.sleep(0.05)
        return item

    assert _in_threads(lambda x: 2 * x, list(range(7)), 2, threading.Event()) == [0, 2, 4, 6, 8, 10, 12]
    with pytest.raises(Stopping):
        _in_threads(slow, list(range(100)), 2, stopping)
    assert len(started) <= 3 and all(t.daemon for t in started)

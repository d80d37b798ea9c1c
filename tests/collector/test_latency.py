"""The latency and error-rate detector on per-minute series with known faults."""

from __future__ import annotations

import numpy as np
import pytest

from modeltrace_collector.analysis.latency import (
    DAY_MS,
    MINUTE_MS,
    POOLED_KINDS,
    LatencyDetector,
    LatencySettings,
    Series,
    pooled_traffic,
)

T0 = 1_790_000_000_000 - 1_790_000_000_000 % DAY_MS  # midnight UTC


def series(
    minutes: int,
    calls: float = 24,
    p50: float = 10.0,
    seed: int = 0,
    slow: dict[int, float] | None = None,
    errors: dict[int, float] | None = None,
    version: str = "1",
) -> Series:
    """A steady series with multiplicative noise; ``slow`` maps minute -> latency factor."""
    rng = np.random.default_rng(seed)
    factor = np.ones(minutes)
    for k, f in (slow or {}).items():
        factor[k] = f
    q = np.outer(factor, [p50, 1.5 * p50, 2 * p50]) * np.exp(rng.normal(0, 0.05, (minutes, 1)))
    err = np.zeros(minutes)
    for k, e in (errors or {}).items():
        err[k] = e
    return Series(
        "m", version, "predict", T0 + np.arange(minutes, dtype=np.int64) * MINUTE_MS, np.full(minutes, calls), err, q
    )


def at(minute: int) -> int:
    return T0 + minute * MINUTE_MS


def test_a_slowdown_opens_one_episode_and_resolves_after_quiet_minutes() -> None:
    slow = dict.fromkeys(range(200, 220), 1.6)
    s = series(240, slow=slow)
    eps = LatencyDetector(LatencySettings()).detect(s, None, at(0), at(240))
    assert len(eps) == 1
    ep = eps[0]
    assert (ep.kind, ep.start_ms, ep.opened_ms) == ("latency", at(200), at(202))  # two anomalous minutes
    assert ep.end_ms == at(220)
    assert ep.resolved_ms == at(225)  # five normal minutes after the last slow one
    assert ep.observed["p50"] == pytest.approx(16, rel=0.15)
    assert ep.baseline["p50"] == pytest.approx(10, rel=0.1)
    assert not ep.spike and ep.resolution == ""


def test_a_severe_slowdown_opens_after_its_first_minute() -> None:
    """Three times slower is beyond doubt in one minute (a spike's bar): the episode opens at
    once, marked a spike while it is one minute old, and an ordinary episode after."""
    slow = dict.fromkeys(range(200, 220), 3.0)
    s = series(240, slow=slow)
    eps = LatencyDetector(LatencySettings()).detect(s, None, at(0), at(240))
    assert len(eps) == 1
    ep = eps[0]
    assert (ep.kind, ep.start_ms, ep.opened_ms) == ("latency", at(200), at(201))
    assert not ep.spike
    assert ep.end_ms == at(220)
    assert ep.resolved_ms == at(225)  # five normal minutes after the last slow one
    assert ep.observed["p50"] == pytest.approx(30, rel=0.15)
    assert ep.baseline["p50"] == pytest.approx(10, rel=0.1)


def test_steady_noise_opens_nothing() -> None:
    for seed in range(5):
        s = series(600, seed=seed)
        assert LatencyDetector(LatencySettings()).detect(s, None, at(0), at(600)) == []


def test_a_long_incident_stays_one_open_episode() -> None:
    """Anomalous minutes never enter the baseline, so after hours it is still anomalous (until
    its level has held for accept_after)."""
    slow = dict.fromkeys(range(100, 700), 2.0)
    settings = LatencySettings(baseline_seconds=3600, accept_after=1000)
    eps = LatencyDetector(settings).detect(series(700, slow=slow), None, at(0), at(700))
    assert len(eps) == 1
    assert eps[0].start_ms == at(100) and eps[0].resolved_ms is None
    assert len(eps[0].minutes) == 600


def test_daily_seasonality_is_learnt() -> None:
    """A busy hour at 12:00 every day is normal by day 4; the same slowdown at 03:00 is not."""
    days = 4
    minutes = days * 1440
    daily_peak = {d * 1440 + m: 2.0 for d in range(days) for m in range(720, 780)}
    s = series(minutes, slow=daily_peak, seed=3)
    det = LatencyDetector(LatencySettings())
    last_day = (days - 1) * 1440
    eps = det.detect(s, None, at(last_day), at(minutes))
    assert eps == [], [(ep.start_ms - T0) / MINUTE_MS for ep in eps]
    # the same shape without history (a single day) is an anomaly
    one_day = series(1440, slow={m: 2.0 for m in range(720, 780)}, seed=3)
    eps = LatencyDetector(LatencySettings()).detect(one_day, None, at(0), at(1440))
    assert len(eps) == 1 and eps[0].start_ms == at(720)
    # and on day 4 a slowdown at 03:00, which the earlier days never had, is found
    unusual = dict(daily_peak)
    unusual.update({last_day + m: 2.0 for m in range(180, 200)})
    eps = LatencyDetector(LatencySettings()).detect(
        series(minutes, slow=unusual, seed=3), None, at(last_day), at(minutes)
    )
    assert [ep.start_ms for ep in eps] == [at(last_day + 180)]


def test_resumed_walks_find_what_full_walks_find() -> None:
    slow = {
        **dict.fromkeys(range(300, 330), 3.0),
        **dict.fromkeys(range(400, 402), 4.0),
        **dict.fromkeys(range(500, 560), 1.8),
    }
    errors = dict.fromkeys(range(450, 460), 6)
    s = series(600, slow=slow, errors=errors, seed=7)
    settings = LatencySettings(evaluate_seconds=1800)
    resumed = LatencyDetector(settings)
    for end in range(240, 601, 7):
        part = Series(s.model, s.version, s.operation, s.minute_ms[:end], s.calls[:end], s.errors[:end], s.q[:end])
        eval_from = at(end) - int(settings.evaluate_seconds * 1000)
        fresh = LatencyDetector(settings).detect(part, None, eval_from, at(end), resume=False)
        again = resumed.detect(part, None, eval_from, at(end))
        summary = [(e.kind, e.start_ms, e.end_ms, e.opened_ms, e.resolved_ms, round(e.peak, 9)) for e in fresh]
        assert summary == [(e.kind, e.start_ms, e.end_ms, e.opened_ms, e.resolved_ms, round(e.peak, 9)) for e in again]
        assert [e.observed for e in fresh] == [e.observed for e in again]


def test_an_error_burst_at_low_traffic_is_found_within_minutes() -> None:
    """Six calls a minute with two failing: no single minute proves it, three minutes do."""
    s = series(200, calls=6, errors=dict.fromkeys(range(150, 170), 2))
    eps = LatencyDetector(LatencySettings()).detect(s, None, at(0), at(200))
    assert [ep.kind for ep in eps] == ["error_rate"]
    assert at(150) <= eps[0].start_ms and eps[0].opened_ms <= at(154)
    assert eps[0].observed["error_rate"] == pytest.approx(2 / 6)


def test_a_weak_error_burst_is_found_over_the_long_window() -> None:
    """Two errors every three minutes out of 24 calls a minute (2.8%): never three in the
    short window, plenty in the long one."""
    errors = {150 + k: 1 for k in range(50) if k % 3 != 2}
    eps = LatencyDetector(LatencySettings()).detect(series(200, errors=errors), None, at(0), at(200))
    assert [ep.kind for ep in eps] == ["error_rate"]
    assert at(150) <= eps[0].start_ms and eps[0].opened_ms <= at(165)
    # at a third of that rate it stays quiet
    rare = {150 + k: 1 for k in range(0, 50, 5)}
    assert LatencyDetector(LatencySettings()).detect(series(200, errors=rare), None, at(0), at(200)) == []


def test_a_new_version_is_judged_against_the_traffic_it_replaces() -> None:
    old = series(200, seed=1, version="")
    new = series(10, p50=25.0, seed=2, version="2")
    new.minute_ms = new.minute_ms + 200 * MINUTE_MS
    det = LatencyDetector(LatencySettings())
    eps = det.detect(new, old, at(200), at(210))
    assert len(eps) == 1 and eps[0].start_ms == at(200)
    # without the other versions' traffic a new version has nothing to be compared with
    assert LatencyDetector(LatencySettings()).detect(new, None, at(200), at(210)) == []


def _spans(model: str, minute_ms: int, durations_ms: list[float], profiled: list[bool]) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    from tests.bench.scenarios import kv

    spans = []
    for i, (ms, prof) in enumerate(zip(durations_ms, profiled)):
        start = (minute_ms + i * 100) * 1_000_000
        attrs = {"ml.model.name": model, "ml.model.version": "1", "ml.operation.name": "predict"}
        kvs = [kv(k, v) for k, v in attrs.items()] + [kv("ml.profile.sampled", prof)]
        spans.append(
            Span(
                trace_id=(minute_ms * 1000 + i).to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"),
                name=f"predict {model}", start_time_unix_nano=start, end_time_unix_nano=start + int(ms * 1e6),
                attributes=kvs,
            )
        )  # fmt: skip
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    ).SerializeToString()


def test_the_rollup_leaves_profiled_calls_out_of_the_quantiles(store):
    """Profiled calls carry cProfile's overhead: with enough plain calls in a minute they do
    not move its percentiles; a minute of profiled calls only is measured on them."""
    from modeltrace_collector.analysis.latency import load_series
    from modeltrace_collector.pipeline.flatten import TABLES, flatten

    rng = np.random.default_rng(1)
    plain = list(rng.uniform(9, 11, 40))
    bodies = [
        _spans("m", T0, plain + [50.0] * 4, [False] * 40 + [True] * 4),  # 9% profiled, 5x slower
        _spans("m", T0 + MINUTE_MS, [50.0] * 6, [True] * 6),  # only profiled calls
    ]
    batch = flatten(bodies)
    store.insert("otel_traces", batch.columns["otel_traces"], TABLES["otel_traces"], "profiled-rollup")
    [s] = load_series(store, T0, T0 + 2 * MINUTE_MS, "m").values()
    assert list(s.calls) == [44, 6]
    p50, p95, p99 = s.q[0]
    assert 9 <= p50 <= 11 and p95 <= 11.5 and p99 <= 11.5
    assert s.q[1] == pytest.approx([50, 50, 50], rel=0.01)


def test_a_level_that_holds_is_accepted_and_a_later_jump_opens_a_new_finding() -> None:
    """Latency doubles at minute 100 and stays: after accept_after (3 h) the episode resolves as
    "accepted" and the new level is the baseline (nothing more opens while it holds); when it
    doubles again at minute 500, that opens a new episode against the new level."""
    slow = {**dict.fromkeys(range(100, 500), 2.0), **dict.fromkeys(range(500, 560), 4.0)}
    eps = LatencyDetector(LatencySettings()).detect(series(560, slow=slow), None, at(0), at(560))
    assert [(ep.start_ms, ep.resolution) for ep in eps] == [(at(100), "accepted"), (at(500), "")]
    assert eps[0].resolved_ms == at(280)
    assert eps[1].baseline["p50"] == pytest.approx(20, rel=0.1)


def test_a_slowdown_that_also_fails_calls_is_not_accepted_and_its_errors_stay_open() -> None:
    """A level that holds is accepted only when it is all that is wrong: a slowdown whose calls
    also keep failing (5 of 24) stays an incident, and its error finding does not close."""
    s = series(600, slow=dict.fromkeys(range(100, 600), 2.0), errors=dict.fromkeys(range(100, 600), 5))
    eps = LatencyDetector(LatencySettings()).detect(s, None, at(0), at(600))
    assert sorted((ep.kind, ep.resolved_ms) for ep in eps) == [("error_rate", None), ("latency", None)]


def test_an_incident_that_comes_and_goes_in_bursts_is_not_one_finding_per_burst() -> None:
    """Three times slower 6 minutes in every 12 for three hours (or a third of calls failing 3
    minutes in 12): the first burst closes as usual after 5 quiet minutes, the next one opens
    within a quarter of an hour and so holds open through the gaps: two episodes, not fifteen."""
    slow = {m: 3.0 for m in range(200, 380) if (m - 200) % 12 < 6}
    failing = {m: 8 for m in range(200, 380) if (m - 200) % 12 < 3}
    for s in (series(400, slow=slow), series(400, errors=failing)):
        eps = LatencyDetector(LatencySettings()).detect(s, None, at(0), at(400))
        assert len(eps) == 2 and eps[1].start_ms == at(212) and eps[1].resolved_ms > at(380)


def test_a_larger_jump_during_an_episode_escalates_it() -> None:
    """1.6 times slower from minute 100, then 4 times from 150: one finding, with one escalation
    that starts at 150 and says from which level to which."""
    slow = {**dict.fromkeys(range(100, 150), 1.6), **dict.fromkeys(range(150, 200), 4.0)}
    eps = LatencyDetector(LatencySettings()).detect(series(200, slow=slow), None, at(0), at(200))
    assert len(eps) == 1
    (rise,) = eps[0].escalations
    assert rise["start_ms"] == at(150) and rise["detected_ms"] == at(152)
    usual = eps[0].baseline[rise["metric"]]
    assert rise["from_ms"] == pytest.approx(1.6 * usual, rel=0.15) and rise["to_ms"] == pytest.approx(
        4 * usual, rel=0.15
    )
    assert eps[0].level_since() == at(150)


def test_a_severe_one_minute_spike_is_reported_once_and_a_mild_one_not_at_all() -> None:
    """One minute five times slower opens a spike episode at once; three such minutes within a
    quarter of an hour are still that one episode (no flapping); one minute 1.5 times slower
    (under the spike bar, and alone) opens nothing."""
    spikes = {150: 5.0, 156: 5.0, 163: 5.0}
    eps = LatencyDetector(LatencySettings()).detect(series(240, slow=spikes), None, at(0), at(240))
    assert len(eps) == 1
    ep = eps[0]
    assert ep.spike and (ep.start_ms, ep.opened_ms) == (at(150), at(151))
    assert ep.resolved_ms == at(164 + 15)  # three times the usual five quiet minutes
    assert LatencyDetector(LatencySettings()).detect(series(240, slow={150: 1.5}), None, at(0), at(240)) == []


def test_a_sharp_drop_in_latency_is_its_own_finding() -> None:
    """p50 falls to a third (a model answering without doing its work): a latency_drop."""
    eps = LatencyDetector(LatencySettings()).detect(
        series(240, slow=dict.fromkeys(range(200, 230), 0.3)), None, at(0), at(240)
    )
    assert [(ep.kind, ep.start_ms, ep.opened_ms) for ep in eps] == [("latency_drop", at(200), at(202))]
    assert ep_p50(eps[0]) == pytest.approx(3, rel=0.15)


def ep_p50(ep) -> float:
    return ep.observed["p50"]


def _traffic(calls: np.ndarray, minutes: int | None = None) -> Series:
    """The pooled traffic series (all versions, silent minutes as zeros) of per-minute ``calls``,
    where a zero drops the minute from the version series as the rollup would."""
    s = series(len(calls))
    s.calls = np.asarray(calls, dtype=float)
    keep = s.calls > 0
    version = Series(s.model, s.version, s.operation, s.minute_ms[keep], s.calls[keep], s.errors[keep], s.q[keep])
    (pooled,) = pooled_traffic({("m", "1", "predict"): version}, at(minutes or len(calls))).values()
    return pooled


def test_traffic_that_falls_away_is_a_traffic_drop() -> None:
    """24 calls a minute, then 3 a minute from minute 200; and then none at all (no rows)."""
    rng = np.random.default_rng(1)
    calls = rng.poisson(24, 260).astype(float)
    calls[200:230] = 3
    calls[230:] = 0
    pooled = _traffic(calls)
    assert len(pooled.minute_ms) == 260 and pooled.calls[240] == 0
    eps = LatencyDetector(LatencySettings()).detect(pooled, None, at(0), at(260), kinds=POOLED_KINDS)
    assert [(ep.kind, ep.start_ms, ep.opened_ms, ep.resolved_ms) for ep in eps] == [
        ("traffic_drop", at(200), at(202), None)
    ]
    assert eps[0].baseline["calls_per_minute"] == pytest.approx(24, abs=3)


def test_a_steady_model_losing_three_quarters_of_its_calls_is_a_traffic_drop() -> None:
    """Poisson 24 a minute, then Poisson 6 (three of four hosts gone): found within minutes on
    every seed. The log-scale z of 7 calls against 24 is only about 4.4; the Poisson tail and
    the drop share tell it apart, and quiet traffic at Poisson 12 or 24 stays quiet."""
    for seed in range(10, 18):  # z_open (5) as the bar missed seeds 12 and 14 (7 of 60 seeds)
        rng = np.random.default_rng(seed)
        calls = rng.poisson(24, 260).astype(float)
        calls[200:] = rng.poisson(6, 60)
        eps = LatencyDetector(LatencySettings()).detect(_traffic(calls), None, at(0), at(260), kinds=POOLED_KINDS)
        assert [ep.kind for ep in eps] == ["traffic_drop"], seed
        assert at(200) <= eps[0].start_ms and eps[0].opened_ms <= at(206), seed
        for usual in (12, 24):
            quiet = rng.poisson(usual, 600).astype(float)
            assert (
                LatencyDetector(LatencySettings()).detect(_traffic(quiet), None, at(0), at(600), kinds=POOLED_KINDS)
                == []
            )


def test_a_spike_in_a_minute_of_few_calls_is_reported() -> None:
    """A model of 24 calls a minute has fewer than 20 in one minute of five: a spike that falls in
    such a minute (15 calls, every one five times slower) is still reported."""
    s = series(240, slow={150: 5.0})
    s.calls[150] = 15
    eps = LatencyDetector(LatencySettings()).detect(s, None, at(0), at(240))
    assert [(ep.spike, ep.start_ms, ep.opened_ms) for ep in eps] == [(True, at(150), at(151))]


def test_a_job_that_runs_on_and_off_is_learnt_but_a_longer_outage_still_opens() -> None:
    """50 calls a minute for 20 minutes, then 20 idle, for 12 hours: the first idle stretches
    open drops (nothing earlier says this is normal), the rest are the traffic's pattern (35
    findings before); the idle stretch from minute 700 that goes on for 80 minutes opens one as
    soon as it is longer than those before."""
    rng = np.random.default_rng(0)
    calls = np.where(np.arange(780) % 40 < 20, rng.poisson(50, 780), 0).astype(float)
    calls[720:] = 0
    eps = LatencyDetector(LatencySettings()).detect(_traffic(calls), None, at(0), at(780), kinds=POOLED_KINDS)
    assert 1 <= len(eps) - 1 <= 3
    last = eps[-1]
    assert (last.start_ms, last.opened_ms, last.resolved_ms) == (at(700), at(721), None)


def test_steady_bursty_or_slowly_falling_traffic_is_no_drop() -> None:
    """Poisson noise at 24 a minute; a batch job busy one minute in ten (silent minutes are its
    normal); traffic halving over six hours (each half hour looks like the one before)."""
    rng = np.random.default_rng(2)
    steady = rng.poisson(24, 600).astype(float)
    bursty = np.where(np.arange(600) % 10 == 0, 200.0, 0.0)
    falling = rng.poisson(np.linspace(60, 30, 600)).astype(float)
    for calls in (steady, bursty, falling):
        eps = LatencyDetector(LatencySettings()).detect(_traffic(calls), None, at(0), at(600), kinds=POOLED_KINDS)
        assert eps == []


def test_a_huge_minute_in_a_noisy_series_is_a_spike_and_a_recurring_blip_is_not() -> None:
    """In a noisy series (40% spread a minute) one minute 12 times the usual is only z 5.3,
    short of the spike bar of 10, yet no noise explains it: it is reported. A blip of 5x every 20
    minutes (a cron job) is reported the first times only: once the baseline span holds three
    minutes as high, it is the series' pattern."""
    rng = np.random.default_rng(4)
    noisy = series(300, seed=4)
    noisy.q = noisy.q * np.exp(rng.normal(0, 0.4, (300, 1)))
    noisy.q[250] *= 12.0
    eps = LatencyDetector(LatencySettings()).detect(noisy, None, at(0), at(300))
    assert [(ep.start_ms, ep.spike) for ep in eps] == [(at(250), True)]
    blips = series(400, slow={m: 5.0 for m in range(100, 400, 20)})
    eps = LatencyDetector(LatencySettings()).detect(blips, None, at(0), at(400))
    assert [ep.start_ms for ep in eps] == [at(100), at(120), at(140)]


def test_recurring_short_blips_are_learnt_but_a_longer_one_still_opens() -> None:
    """Two minutes at 3x every 20 minutes (a cache refresh): the first three open findings (the
    first two at once, as spikes, until three minutes as high are in the baseline span), then
    the blips are the series' pattern. At minute 300 the same level lasts ten minutes: it opens
    once it outlasts the blips (at its third minute)."""
    slow = {m + k: 3.0 for m in range(100, 300, 20) for k in range(2)}
    slow.update(dict.fromkeys(range(300, 310), 3.0))
    eps = LatencyDetector(LatencySettings()).detect(series(340, slow=slow), None, at(0), at(340))
    assert [(ep.start_ms, ep.opened_ms) for ep in eps] == [
        (at(100), at(101)), (at(120), at(121)), (at(140), at(142)), (at(300), at(303)),
    ]  # fmt: skip

"""cProfile hotspots: sampled calls, slow-call follow-up, one profiler per process."""

import cProfile
import threading
import time

import modeltrace
from modeltrace._internal import profiler
from modeltrace.testing import capture_spans


def heavy_python(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def test_profiled_call_reports_user_hotspots_without_modeltrace_frames():
    @modeltrace.trace_model(name="m", profile_rate=1.0)
    def predict(x):
        return heavy_python(20000)

    with capture_spans() as spans:
        predict(1.0)
    a = spans.dicts()[0]["attributes"]
    assert a["ml.profile.sampled"] is True
    hot = a["ml.profile.hotspots"]
    assert hot[0]["function"] == "heavy_python"
    assert hot[0]["file"] == __file__
    assert hot[0]["line"] == heavy_python.__code__.co_firstlineno
    assert hot[0]["calls"] == 1
    assert hot[0]["self_ms"] > 0 and hot[0]["cum_ms"] >= hot[0]["self_ms"]
    assert set(hot[0]) == {"function", "file", "line", "calls", "self_ms", "cum_ms"}
    assert all("modeltrace/_internal" not in h["file"] for h in hot)
    assert all("opentelemetry" not in h["file"] for h in hot)  # the span's own bookkeeping is not charged
    assert all("_lsprof" not in h["function"] for h in hot)


def test_profile_rate_zero_never_profiles_and_default_rate_samples_about_one_percent():
    @modeltrace.trace_model(name="never", profile_rate=0)
    def never(x):
        return x

    @modeltrace.trace_model(name="sometimes")
    def sometimes(x):
        return x

    with capture_spans() as spans:
        for _ in range(3000):
            never(1.0)
            sometimes(1.0)
    profiled = {"never": 0, "sometimes": 0}
    for a in spans.attributes():
        if a.get("ml.profile.sampled"):
            profiled[a["ml.model.name"]] += 1
    assert profiled["never"] == 0
    assert 10 <= profiled["sometimes"] <= 60  # 1% of 3000 = 30, with the seeded sampler


def test_calls_after_a_slow_call_are_profiled():
    delay = {"s": 0.0}

    @modeltrace.trace_model(name="m", profile_rate=0, profile_after_slow=3)
    def predict(x):
        time.sleep(delay["s"])
        return x

    with capture_spans() as spans:
        # Warm the latency window with fast calls; the ticking test clock makes each
        # call take exactly 1 s of span time, so make the slow one slow on that clock.
        for _ in range(256):
            predict(1.0)
        assert not any(a.get("ml.profile.sampled") for a in spans.attributes())
        spans.clear()
        window = predict.__modeltrace_spec__.window
        assert window.threshold_ns is not None
        window.observe(window.threshold_ns * 10, 3)  # a call far above p99
        for _ in range(5):
            predict(1.0)
    sampled = [bool(a.get("ml.profile.sampled")) for a in spans.attributes()]
    assert sampled == [True, True, True, False, False]


def test_only_one_profiler_runs_at_a_time():
    inside = threading.Event()
    release = threading.Event()

    @modeltrace.trace_model(name="m", profile_rate=1.0)
    def predict(x):
        if x == "first":
            inside.set()
            release.wait(5)
        return x

    with capture_spans() as spans:
        t = threading.Thread(target=predict, args=("first",))
        t.start()
        assert inside.wait(5)
        predict("second")  # the slot is busy: runs unprofiled, without waiting
        release.set()
        t.join()
    by_input = {a["ml.input.sample"]["f0"][0]: a.get("ml.profile.sampled", False) for a in spans.attributes()}
    assert by_input == {"second": False, "first": True}


def test_a_profiler_started_elsewhere_is_left_alone():
    @modeltrace.trace_model(name="m", profile_rate=1.0)
    def predict(x):
        return heavy_python(1000)

    outer = cProfile.Profile()
    outer.enable()
    try:
        with capture_spans() as spans:
            predict(1.0)
    finally:
        outer.disable()
    a = spans.dicts()[0]["attributes"]
    # Python 3.11 lets a second cProfile replace the hook; 3.12+ refuses it. Either way the
    # call succeeds, and the slot is free again afterwards.
    assert a["ml.model.name"] == "m"
    assert profiler._slot.acquire(blocking=False)
    profiler._slot.release()


def test_hotspots_rank_by_self_time():
    class Entry:
        def __init__(self, code, inline, total, calls):
            self.code, self.inlinetime, self.totaltime, self.callcount = code, inline, total, calls

    import json

    entries = [
        Entry(heavy_python.__code__, 0.002, 0.003, 4),
        Entry("<built-in method numpy.dot>", 0.010, 0.010, 2),
        Entry("<method 'disable' of '_lsprof.Profiler' objects>", 1.0, 1.0, 1),
        Entry(profiler.hotspots.__code__, 5.0, 5.0, 1),
    ]
    assert json.loads(profiler.hotspots(entries)) == [
        {
            "function": "<built-in method numpy.dot>",
            "file": "~",
            "line": 0,
            "calls": 2,
            "self_ms": 10.0,
            "cum_ms": 10.0,
        },
        {
            "function": "heavy_python",
            "file": __file__,
            "line": heavy_python.__code__.co_firstlineno,
            "calls": 4,
            "self_ms": 2.0,
            "cum_ms": 3.0,
        },
    ]


def test_async_profiling_counts_only_this_coroutine():
    import asyncio

    @modeltrace.trace_model(name="m", profile_rate=1.0)
    async def predict(x):
        await asyncio.sleep(0.01)
        return heavy_python(2000)

    async def noisy_neighbour():
        for _ in range(20):
            heavy_python(500)
            await asyncio.sleep(0.001)

    async def main():
        await asyncio.gather(predict(1.0), noisy_neighbour())

    with capture_spans() as spans:
        asyncio.run(main())
    hot = spans.dicts()[0]["attributes"]["ml.profile.hotspots"]
    calls = {h["function"]: h["calls"] for h in hot}
    assert calls.get("heavy_python") == 1  # the neighbour's 20 calls are not charged here


def test_generators_are_profiled_only_while_they_run():
    import asyncio

    @modeltrace.trace_model(name="gen", profile_rate=1.0)
    def stream(x):
        for _ in range(3):
            yield heavy_python(500)

    @modeltrace.trace_model(name="agen", profile_rate=1.0)
    async def astream(x):
        for _ in range(3):
            await asyncio.sleep(0)
            yield heavy_python(500)

    async def consume():
        return [v async for v in astream(1.0)]

    with capture_spans() as spans:
        values = []
        for v in stream(1.0):
            heavy_python(500)  # the consumer's own work between items is not the model's
            values.append(v)
        assert asyncio.run(consume()) == values
    for span in spans.dicts():
        hot = {h["function"]: h["calls"] for h in span["attributes"]["ml.profile.hotspots"]}
        assert hot["heavy_python"] == 3, span["name"]
    assert profiler._slot.acquire(blocking=False)
    profiler._slot.release()

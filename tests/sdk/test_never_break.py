"""Instrumentation never changes what the model returns or raises."""

import logging
import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import modeltrace
from modeltrace._internal import errors, tables
from modeltrace.testing import capture_spans, internal_errors


class Unserialisable:
    def __repr__(self):
        raise RuntimeError("repr fails")

    def __len__(self):
        raise RuntimeError("len fails")


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
    st.binary(max_size=20),
    st.just("x" * 100_000),
    st.builds(Unserialisable),
    st.complex_numbers(allow_nan=True),
)
arrays = hnp.arrays(
    dtype=st.one_of(
        hnp.integer_dtypes(),
        hnp.unsigned_integer_dtypes(),
        hnp.floating_dtypes(),
        hnp.boolean_dtypes(),
        hnp.complex_number_dtypes(),
        hnp.datetime64_dtypes(),
        hnp.unicode_string_dtypes(),
        hnp.byte_string_dtypes(),
    ),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
)
inputs = st.recursive(
    st.one_of(scalars, arrays),
    lambda children: st.one_of(
        st.lists(children, max_size=6),  # ragged rows, mixed types
        st.dictionaries(st.text(max_size=5), children, max_size=5),
        st.lists(st.dictionaries(st.text(max_size=3), scalars, max_size=4), max_size=5),
        st.tuples(children, children),
    ),
    max_leaves=20,
)


def model(x):
    """Returns something derived from x, or raises, depending on x."""
    if isinstance(x, np.ndarray) and x.size and x.dtype.kind == "f" and np.isnan(x).any():
        raise ValueError("NaN in input")
    if isinstance(x, dict) and len(x) == 3:
        raise KeyError("three keys")
    if isinstance(x, (list, tuple)):
        return [type(v).__name__ for v in x]
    if isinstance(x, np.ndarray):
        return x
    return x


def outcome(fn, x):
    try:
        return ("ok", fn(x))
    except Exception as exc:  # compare what the caller sees
        return ("raised", type(exc), str(exc))


def same(a, b):
    if a[0] != b[0]:
        return False
    if a[0] == "raised":
        return a == b
    va, vb = a[1], b[1]
    if isinstance(va, np.ndarray):
        return isinstance(vb, np.ndarray) and va is vb
    return va is vb or va == vb


traced_variants = [
    modeltrace.trace_model(name="p", profile_rate=0)(model),
    modeltrace.trace_model(name="p", capture="full", preview_chars=300, profile_rate=0)(model),
    modeltrace.trace_model(name="p", capture="stats", output="scores", redact=["a", "f0"], profile_rate=0)(model),
]


@pytest.mark.slow
@pytest.mark.filterwarnings("error")  # modeltrace must not emit warnings into the user's process
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(x=inputs)
def test_any_input_gives_the_same_result_or_exception(x):
    # internal errors raise in tests (conftest), so capture itself must cope with x
    errors.reset_error_counts()
    expected = outcome(model, x)
    with capture_spans() as spans:
        for traced in traced_variants:
            assert same(outcome(traced, x), expected)
    assert len(spans.spans()) == len(traced_variants)
    assert internal_errors() == {}


@pytest.mark.slow
@pytest.mark.filterwarnings("error")
@settings(max_examples=150, deadline=None)
@given(frame=st.data())
def test_dataframes_with_odd_columns(frame):
    n = frame.draw(st.integers(0, 8))
    cols = frame.draw(
        st.lists(st.sampled_from(["float", "int", "str", "cat", "obj", "bool", "nullable"]), min_size=0, max_size=5)
    )
    data = {}
    for i, kind in enumerate(cols):
        values = frame.draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n, max_size=n))
        if kind == "int":
            data[f"c{i}"] = np.arange(n)
        elif kind == "str":
            data[f"c{i}"] = [str(v) for v in values]
        elif kind == "cat":
            data[f"c{i}"] = pd.Categorical([str(v)[:2] for v in values])
        elif kind == "obj":
            data[f"c{i}"] = [v if j % 2 else str(v) for j, v in enumerate(values)]
        elif kind == "bool":
            data[f"c{i}"] = [v > 0 for v in values]
        elif kind == "nullable":
            data[f"c{i}"] = pd.array([None if v != v else int(v) % 7 if abs(v) < 1e9 else 1 for v in values], "Int64")
        else:
            data[f"c{i}"] = values
    df = pd.DataFrame(data, index=range(n))
    traced = traced_variants[1]
    with capture_spans() as spans:
        assert traced(df) is df
    assert spans.dicts()[0]["attributes"]["ml.input.rows"] == n


def test_internal_failure_is_swallowed_counted_and_logged_once(monkeypatch, caplog):
    monkeypatch.setattr(errors, "raise_internal_errors", False)

    def broken(x, names):
        raise RuntimeError("capture bug")

    monkeypatch.setitem(tables._handlers, np.ndarray, broken)
    traced = modeltrace.trace_model(name="m", profile_rate=0)(lambda x: x * 2)
    with caplog.at_level(logging.WARNING, logger="modeltrace"), capture_spans() as spans:
        results = [traced(np.array([1.0, 2.0])) for _ in range(3)]
    assert all(r.tolist() == [2.0, 4.0] for r in results)
    assert internal_errors() == {"begin": 3}
    assert [r.message for r in caplog.records].count(
        "modeltrace: internal error in begin; the call continues uninstrumented "
        "(further errors of this kind are counted, not logged)"
    ) == 1
    # the calls ran uninstrumented: no half-finished spans were exported as successes
    assert all(s["attributes"].get("ml.input.rows") is None for s in spans.dicts())


def test_internal_failure_at_the_end_of_a_call_keeps_the_result(monkeypatch):
    monkeypatch.setattr(errors, "raise_internal_errors", False)
    from modeltrace._internal import capture

    def broken(*a, **k):
        raise RuntimeError("output bug")

    monkeypatch.setattr(capture, "capture_output", broken)
    traced = modeltrace.trace_model(name="m", profile_rate=0)(lambda x: x + 1)
    with capture_spans() as spans:
        assert traced(1) == 2
    assert internal_errors() == {"finish": 1}
    assert len(spans.spans()) == 1  # the span was still ended, not leaked


def test_concurrent_calls_keep_their_own_inputs_and_outputs():
    @modeltrace.trace_model(name="m", profile_rate=0.2)
    def predict(x):
        with modeltrace.step("inner"):
            pass
        return x * 10

    errors_seen = []

    def worker(k):
        try:
            for i in range(200):
                v = float(k * 1000 + i)
                assert predict(np.array([[v]])).item() == v * 10
        except Exception as exc:  # pragma: no cover - reported below
            errors_seen.append(exc)

    with capture_spans(deterministic=False) as spans:
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors_seen == []
    model_spans = [d for d in spans.dicts() if d["name"] == "predict m"]
    inner = [d for d in spans.dicts() if d["name"] == "inner"]
    assert len(model_spans) == len(inner) == 1600
    for d in model_spans:
        a = d["attributes"]
        assert a["ml.output.sample"]["prediction"] == [a["ml.input.sample"]["f0"][0] * 10]
    # every step span is a child of its own call's span
    ids = {d["context"]["span_id"]: d for d in model_spans}
    assert all(
        s["parent"] in ids and ids[s["parent"]]["context"]["trace_id"] == s["context"]["trace_id"] for s in inner
    )
    assert len({a["attributes"]["ml.prediction.id"] for a in model_spans}) == 1600
    assert internal_errors() == {}

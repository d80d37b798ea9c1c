"""Each wrapper shape exports the whole span we expect (fixed ids and clock)."""

import asyncio
import inspect

import numpy as np
import pytest

import modeltrace
from modeltrace.testing import capture_spans

PID_1 = "00000000000000000000000000000001" + "0000000000000001"


def base(name="predict churn", pid=PID_1, **attributes):
    return {
        "name": name,
        "context": {"trace_id": 1, "span_id": 1},
        "parent": None,
        "kind": "INTERNAL",
        "start_time": 1_000_000_000,
        "end_time": 2_000_000_000,
        "status": "UNSET",
        "attributes": {
            "ml.model.name": "churn",
            "ml.operation.name": "predict",
            "ml.model.version": "2",
            "ml.model.framework": "custom",
            "ml.prediction.id": pid,
            **attributes,
        },
    }


ROW_ATTRS = {
    "ml.input.rows": 1,
    "ml.input.columns": 3,
    "ml.input.sample": {"age": [41], "tenure": [2.5], "spend": [10]},
    "ml.output.rows": 1,
    "ml.output.sample": {"prediction": [0.75]},
}

traced = modeltrace.trace_model(
    name="churn", version="2", framework="custom", feature_names=["age", "tenure", "spend"], profile_rate=0
)


@traced
def predict_fn(x):
    """Score one customer."""
    return np.array([0.75])


class Model:
    @traced
    def predict(self, x):
        return np.array([0.75])


@traced
async def predict_async(x):
    await asyncio.sleep(0)
    return np.array([0.75])


ROW = np.array([[41.0, 2.5, 10.0]])


def test_plain_function_span():
    with capture_spans() as spans:
        assert predict_fn(ROW).tolist() == [0.75]
    assert spans.dicts() == [base(**ROW_ATTRS)]


def test_method_span_skips_self():
    with capture_spans() as spans:
        Model().predict(ROW)
    assert spans.dicts() == [base(**ROW_ATTRS)]


def test_keyword_input_is_found():
    with capture_spans() as spans:
        predict_fn(x=ROW)
    assert spans.dicts() == [base(**ROW_ATTRS)]


def test_async_function_span():
    with capture_spans() as spans:
        assert asyncio.run(predict_async(ROW)).tolist() == [0.75]
    assert spans.dicts() == [base(**ROW_ATTRS)]


@traced
def stream(x):
    yield from (0.1, 0.2, 0.3)
    return "done"


@traced
async def astream(x):
    for value in (0.1, 0.2, 0.3):
        await asyncio.sleep(0)
        yield value


STREAM_ATTRS = {
    "ml.input.rows": 1,
    "ml.input.columns": 3,
    "ml.input.sample": {"age": [41], "tenure": [2.5], "spend": [10]},
    "ml.output.rows": 3,
    "ml.output.sample": {"prediction": [0.1, 0.2, 0.3]},
}


def test_generator_span_covers_whole_iteration():
    with capture_spans() as spans:
        gen = stream(ROW)
        assert spans.dicts() == []  # nothing finished before iteration ends
        assert list(gen) == [0.1, 0.2, 0.3]
    assert spans.dicts() == [base(**STREAM_ATTRS)]


def test_generator_return_value_is_kept():
    def consume():
        return (yield from stream(ROW))

    with capture_spans():
        g = consume()
        with pytest.raises(StopIteration) as stop:
            while True:
                next(g)
    assert stop.value.value == "done"


def test_generator_closed_early_ends_span_ok():
    with capture_spans() as spans:
        gen = stream(ROW)
        assert next(gen) == 0.1
        gen.close()
    d = spans.dicts()
    assert d == [base(**{**STREAM_ATTRS, "ml.output.rows": 1, "ml.output.sample": {"prediction": [0.1]}})]


def test_async_generator_span():
    async def consume():
        return [v async for v in astream(ROW)]

    with capture_spans() as spans:
        assert asyncio.run(consume()) == [0.1, 0.2, 0.3]
    assert spans.dicts() == [base(**STREAM_ATTRS)]


class Boom(Exception):
    pass


@traced
def fails(x):
    raise Boom("bad row")


def test_exception_propagates_unchanged_and_marks_span():
    with capture_spans() as spans:
        with pytest.raises(Boom) as info:
            fails(ROW)
    assert str(info.value) == "bad row"
    (span,) = spans.dicts()
    expected = base(
        **{
            "ml.input.rows": 1,
            "ml.input.columns": 3,
            "ml.input.sample": {"age": [41], "tenure": [2.5], "spend": [10]},
            "error.type": "tests.sdk.test_shapes.Boom",
        }
    )
    expected["status"] = "ERROR"
    expected["status_description"] = "Boom: bad row"
    expected["events"] = [
        {
            "name": "exception",
            "timestamp": span["events"][0]["timestamp"],
            "attributes": {
                "exception.type": "tests.sdk.test_shapes.Boom",
                "exception.message": "bad row",
                "exception.escaped": "True",
            },
        }
    ]
    assert span == expected


def test_builtin_error_type_is_short():
    @modeltrace.trace_model(name="m", profile_rate=0)
    def bad(x):
        return 1 / 0

    with capture_spans() as spans:
        with pytest.raises(ZeroDivisionError):
            bad(1.0)
    assert spans.dicts()[0]["attributes"]["error.type"] == "ZeroDivisionError"


def test_wrapper_keeps_signature_doc_and_kind():
    assert predict_fn.__doc__ == "Score one customer."
    assert predict_fn.__name__ == "predict_fn"
    assert str(inspect.signature(predict_fn)) == "(x)"
    assert inspect.iscoroutinefunction(predict_async)
    assert inspect.isgeneratorfunction(stream)
    assert inspect.isasyncgenfunction(astream)
    assert predict_fn.__wrapped__(ROW).tolist() == [0.75]


def test_steps_are_children_of_the_model_span():
    @modeltrace.trace_model(name="churn", version="2", framework="custom", profile_rate=0)
    def predict(x):
        with modeltrace.step("features"):
            pass
        return clean(x)

    @modeltrace.step("postprocess")
    def clean(x):
        return 1

    with capture_spans() as spans:
        predict(3.0)
    names = [(d["name"], d["parent"], d["context"]["span_id"]) for d in spans.dicts()]
    assert names == [("features", 1, 2), ("postprocess", 1, 3), ("predict churn", None, 1)]
    assert spans.dicts()[0]["attributes"] == {"ml.step.name": "features"}


def test_current_prediction_id_inside_and_after_call():
    seen = []

    @modeltrace.trace_model(name="m", profile_rate=0)
    def predict(x):
        seen.append(modeltrace.current_prediction_id())
        return x

    with capture_spans():
        predict(1.0)
    assert seen == [PID_1]
    assert modeltrace.current_prediction_id() == PID_1


def test_after_a_call_that_made_traced_calls_the_prediction_id_is_the_outer_ones():
    """An API handler whose model is instrumented too: the id after the handler returns (what
    its ground truth is logged against) is the handler's, not that of the model call inside it."""

    @modeltrace.trace_model(name="inner", profile_rate=0)
    def score(x):
        return x

    @modeltrace.trace_model(name="api", profile_rate=0)
    def handle(x):
        return score(x)

    @modeltrace.trace_model(name="api", profile_rate=0)
    def handle_failing(x):
        score(x)
        raise ValueError("bad")

    with capture_spans() as spans:
        handle(1.0)
        after = modeltrace.current_prediction_id()
        with pytest.raises(ValueError):
            handle_failing(1.0)
        after_failure = modeltrace.current_prediction_id()
    ids = {d["attributes"]["ml.model.name"]: [] for d in spans.dicts()}
    for d in spans.dicts():
        ids[d["attributes"]["ml.model.name"]].append(d["attributes"]["ml.prediction.id"])
    assert after == ids["api"][0] and after_failure == ids["api"][1]
    assert after not in ids["inner"]


def test_records_output_is_one_field_per_key():
    """A handler answering a list of records (JSON APIs do): the output sample has a field per
    key, which performance can compare with ground truth, not the repr of each record."""

    @modeltrace.trace_model(name="api", profile_rate=0)
    def handle(rows):
        return [{"class": 2, "confidence": 0.75} for _ in rows]

    with capture_spans() as spans:
        handle([[1.0, 2.0], [3.0, 4.0]])
    attributes = spans.dicts()[0]["attributes"]
    assert attributes["ml.output.sample"] == {"class": [2, 2], "confidence": [0.75, 0.75]}
    assert attributes["ml.output.rows"] == 2


def test_log_actual_links_to_prediction():
    with capture_spans() as spans:
        predict_fn(ROW)
        modeltrace.log_actual(modeltrace.current_prediction_id(), 1, model="churn")
        modeltrace.log_actual("order-17", ["fraud", "ok"])
    feedback = spans.dicts()[1:]
    assert feedback[0]["name"] == "feedback churn"
    assert feedback[0]["parent"] is None
    assert feedback[0]["links"] == [{"trace_id": 1, "span_id": 1}]
    assert feedback[0]["attributes"] == {
        "ml.prediction.id": PID_1,
        "ml.actual": [1],
        "ml.operation.name": "feedback",
        "ml.model.name": "churn",
    }
    assert feedback[1]["attributes"]["ml.actual"] == ["fraud", "ok"]
    assert "links" not in feedback[1]

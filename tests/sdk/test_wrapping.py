"""The decorated function stays the same function to Python: pickling, inspect, methods."""

import inspect
import pickle

import cloudpickle

import modeltrace
from modeltrace.testing import capture_spans


@modeltrace.trace_model(name="scorer", profile_rate=0)
def score(x: float, *, scale: float = 2.0) -> float:
    """Multiply by scale."""
    return x * scale


def test_module_level_function_pickles_by_reference():
    restored = pickle.loads(pickle.dumps(score))
    assert restored is score


def test_cloudpickle_by_value_keeps_tracing():
    @modeltrace.trace_model(name="local", version="3", profile_rate=0)
    def local(x):
        return x + 1

    restored = cloudpickle.loads(cloudpickle.dumps(local))
    with capture_spans() as spans:
        assert restored(1) == 2
    assert spans.dicts()[0]["attributes"]["ml.model.version"] == "3"


def test_signature_annotations_and_doc():
    sig = inspect.signature(score)
    assert str(sig) == "(x: float, *, scale: float = 2.0) -> float"
    assert score.__doc__ == "Multiply by scale."
    assert score.__qualname__ == "score"
    assert inspect.unwrap(score)(2.0) == 4.0


def test_bare_decorator_uses_function_name():
    @modeltrace.trace_model
    def ranker(x):
        return x

    with capture_spans() as spans:
        ranker(1.0)
    assert spans.dicts()[0]["name"] == "predict ranker"


def test_input_arg_by_name_and_operation_name():
    @modeltrace.trace_model(name="emb", operation="embed", input_arg="texts", profile_rate=0)
    def embed(model_id, texts):
        return [[0.0, 1.0] for _ in texts]

    with capture_spans() as spans:
        embed("m1", texts=["a", "b"])
    d = spans.dicts()[0]
    assert d["name"] == "embed emb"
    assert d["attributes"]["ml.operation.name"] == "embed"
    assert d["attributes"]["ml.input.sample"] == {"f0": ["a", "b"]}


def test_classmethod_and_staticmethod():
    class M:
        @classmethod
        @modeltrace.trace_model(name="c", profile_rate=0)
        def predict(cls, x):
            return x

        @staticmethod
        @modeltrace.trace_model(name="s", profile_rate=0)
        def score(x):
            return x

    with capture_spans() as spans:
        M.predict(5)
        M.score(6)
    samples = [s["attributes"]["ml.input.sample"] for s in spans.dicts()]
    assert samples == [{"f0": [5]}, {"f0": [6]}]


def test_bad_options_fail_at_decoration_time():
    import pytest

    with pytest.raises(ValueError, match="capture"):
        modeltrace.trace_model(name="x", capture="everything")
    with pytest.raises(ValueError, match="profile_rate"):
        modeltrace.trace_model(name="x", profile_rate=2)
    with pytest.raises(TypeError, match="unknown option\\(s\\): profile_ratio"):
        modeltrace.trace_model(name="x", profile_ratio=0.5)
    with pytest.raises(ValueError, match="input_arg"):
        modeltrace.trace_model(name="x", input_arg="nope")(lambda a: a)

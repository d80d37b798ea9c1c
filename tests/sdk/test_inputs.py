"""Every supported input type becomes the same ml.input.* attributes."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import modeltrace
from modeltrace.testing import capture_spans


def attrs_for(x, **options):
    options.setdefault("profile_rate", 0)

    @modeltrace.trace_model(name="m", **options)
    def predict(data):
        return None

    with capture_spans() as spans:
        predict(x)
    (span,) = spans.dicts()
    a = span["attributes"]
    return {k: v for k, v in a.items() if k.startswith("ml.input")}


def test_numpy_2d():
    assert attrs_for(np.array([[1, 2], [3, 4]], dtype=np.int32)) == {
        "ml.input.rows": 2,
        "ml.input.columns": 2,
        "ml.input.sample": {"f0": [1, 3], "f1": [2, 4]},
    }


def test_numpy_1d_numeric_is_one_row():
    assert attrs_for(np.array([0.5, 1.5, 2.5]), feature_names=["a", "b", "c"]) == {
        "ml.input.rows": 1,
        "ml.input.columns": 3,
        "ml.input.sample": {"a": [0.5], "b": [1.5], "c": [2.5]},
    }


def test_numpy_1d_strings_are_rows_of_one_feature():
    assert attrs_for(np.array(["hi", "there"]), feature_names=["text"]) == {
        "ml.input.rows": 2,
        "ml.input.columns": 1,
        "ml.input.sample": {"text": ["hi", "there"]},
    }


def test_nan_and_inf_become_null():
    a = attrs_for(np.array([[np.nan, 1.0], [np.inf, -np.inf]]))
    assert a["ml.input.sample"] == {"f0": [None, None], "f1": [1, None]}


def test_dataframe_mixed_types_and_missing_values():
    df = pd.DataFrame(
        {
            "age": [30, 40, None],
            "city": ["paris", None, "oslo"],
            "vip": [True, False, True],
        }
    )
    assert attrs_for(df) == {
        "ml.input.rows": 3,
        "ml.input.columns": 3,
        "ml.input.sample": {"age": [30, 40, None], "vip": [1, 0, 1], "city": ["paris", None, "oslo"]},
    }


def test_dataframe_categorical_dtype():
    df = pd.DataFrame({"c": pd.Categorical(["a", "b", "a"])})
    assert attrs_for(df)["ml.input.sample"] == {"c": ["a", "b", "a"]}


def test_series_row_and_column():
    row = pd.Series({"age": 30.0, "city": "paris"})
    assert attrs_for(row)["ml.input.sample"] == {"age": [30], "city": ["paris"]}
    col = pd.Series([1.0, 2.0], name="x")
    assert attrs_for(col)["ml.input.sample"] == {"x": [1, 2]}


def test_sparse_matrix():
    m = sp.csr_matrix(np.array([[0.0, 2.0], [3.0, 0.0]]))
    assert attrs_for(m) == {
        "ml.input.rows": 2,
        "ml.input.columns": 2,
        "ml.input.sample": {"f0": [0, 3], "f1": [2, 0]},
    }


def test_list_of_rows_and_ragged_rows():
    assert attrs_for([[1, 2], [3, 4]])["ml.input.sample"] == {"f0": [1, 3], "f1": [2, 4]}
    ragged = attrs_for([[1, 2, 3], [4]])
    assert ragged["ml.input.columns"] == 3
    assert ragged["ml.input.sample"] == {"f0": [1, 4], "f1": [2, None], "f2": [3, None]}


def test_list_of_dicts():
    a = attrs_for([{"a": 1, "b": "x"}, {"a": 2, "c": 5.5}])
    assert a == {
        "ml.input.rows": 2,
        "ml.input.columns": 3,
        "ml.input.sample": {"a": [1, 2], "c": [None, 5.5], "b": ["x", None]},
    }


def test_dict_of_columns_and_dict_of_scalars():
    assert attrs_for({"a": [1, 2], "b": ["x", "y"]})["ml.input.sample"] == {"a": [1, 2], "b": ["x", "y"]}
    one = attrs_for({"amount": 12.5, "country": "FR"})
    assert one["ml.input.rows"] == 1
    assert one["ml.input.sample"] == {"amount": [12.5], "country": ["FR"]}


def test_scalars_and_text():
    assert attrs_for(3)["ml.input.sample"] == {"f0": [3]}
    assert attrs_for("a long review")["ml.input.sample"] == {"f0": ["a long review"]}


class Blob:
    pass


def test_unknown_object_is_named_not_serialised():
    assert attrs_for(Blob()) == {"ml.input.type": "tests.sdk.test_inputs.Blob"}


def test_wide_inputs_are_described_by_shape():
    images = np.zeros((4, 3, 8, 8))
    assert attrs_for(images) == {"ml.input.rows": 4, "ml.input.columns": 192, "ml.input.shape": [4, 3, 8, 8]}
    wide = attrs_for(np.zeros((2, 300)))
    assert wide == {"ml.input.rows": 2, "ml.input.columns": 300}


def test_torch_tensor():
    torch = pytest.importorskip("torch")
    t = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.bfloat16)
    assert attrs_for(t)["ml.input.sample"] == {"f0": [1, 3], "f1": [2, 4]}


def test_large_batch_samples_rows_uniformly_and_adds_whole_batch_stats():
    x = np.arange(1000.0).reshape(500, 2)
    x[0, 0] = np.nan
    a = attrs_for(x, sample_rows=10)
    sample = a["ml.input.sample"]
    assert len(sample["f0"]) == len(sample["f1"]) == 10
    # rows stay aligned: f1 is f0 + 1 in every row of this input (unless f0 is null)
    assert all(f0 is None or f1 == f0 + 1 for f0, f1 in zip(sample["f0"], sample["f1"]))
    assert a["ml.input.stats"] == {
        "f0": {"count": 499, "nulls": 1, "min": 2, "max": 998, "mean": pytest.approx(np.nanmean(x[:, 0]))},
        "f1": {"count": 500, "nulls": 0, "min": 1, "max": 999, "mean": 500},
    }


def test_sampling_is_uniform_over_rows():
    x = np.arange(100.0).reshape(100, 1)
    seen = np.zeros(100)

    @modeltrace.trace_model(name="m", sample_rows=10, profile_rate=0)
    def predict(data):
        return None

    with capture_spans() as spans:
        for _ in range(400):
            predict(x)
    for a in spans.attributes():
        for v in a["ml.input.sample"]["f0"]:
            seen[int(v)] += 1
    # 4000 draws over 100 rows: every row drawn, none wildly over-represented
    assert seen.min() > 10 and seen.max() < 80


def test_categorical_stats():
    rows = [{"city": c} for c in ["a"] * 50 + ["b"] * 30 + [None] * 20]
    a = attrs_for(rows, sample_rows=5)
    assert a["ml.input.stats"] == {"city": {"count": 80, "nulls": 20, "distinct": 2, "top": [["a", 50], ["b", 30]]}}


def test_stats_mode_sends_statistics_without_rows():
    a = attrs_for(np.array([[1.0, 2.0]]), capture="stats")
    assert "ml.input.sample" not in a
    assert a["ml.input.stats"] == {
        "f0": {"count": 1, "nulls": 0, "min": 1, "max": 1, "mean": 1},
        "f1": {"count": 1, "nulls": 0, "min": 2, "max": 2, "mean": 2},
    }


def test_none_mode_sends_no_values():
    @modeltrace.trace_model(name="m", capture="none", profile_rate=0)
    def predict(data):
        return np.array([1, 0])

    with capture_spans() as spans:
        predict(pd.DataFrame({"ssn": ["1", "2"], "x": [1.0, 2.0]}))
    a = spans.dicts()[0]["attributes"]
    assert not {k for k in a if k.endswith((".sample", ".stats", ".value"))}
    assert a["ml.input.rows"] == 2 and a["ml.output.rows"] == 2
    assert "ssn" not in json.dumps(a)


def test_full_mode_previews_stay_valid_json_when_truncated():
    x = np.arange(400.0).reshape(200, 2)

    @modeltrace.trace_model(name="m", capture="full", preview_chars=200, profile_rate=0)
    def predict(data):
        return data[:, 0]

    with capture_spans() as spans:
        predict(x)
    raw = spans.dicts(parse_json=False)[0]["attributes"]
    assert len(raw["ml.input.value"]) <= 200 and len(raw["ml.output.value"]) <= 200
    rows = json.loads(raw["ml.input.value"])
    assert rows[:2] == [{"f0": 0, "f1": 1}, {"f0": 2, "f1": 3}]
    assert json.loads(raw["ml.output.value"])[:3] == [0, 2, 4]
    assert raw["ml.input.truncated"] is True and raw["ml.output.truncated"] is True


def test_full_mode_small_input_is_not_truncated():
    a = attrs_for("short text", capture="full")
    assert a["ml.input.value"] == [{"f0": "short text"}]
    assert a["ml.input.truncated"] is False


def test_huge_string_preview_is_cut_to_the_cap():
    @modeltrace.trace_model(name="m", capture="full", preview_chars=100, profile_rate=0)
    def predict(data):
        return 1

    class Doc:
        def __repr__(self):
            return 'é"' * 10_000

    with capture_spans() as spans:
        predict(Doc())
    raw = spans.dicts(parse_json=False)[0]["attributes"]
    assert len(raw["ml.input.value"]) <= 100
    assert json.loads(raw["ml.input.value"]).startswith('é"')
    assert raw["ml.input.truncated"] is True


def test_stats_of_one_row_and_of_many_rows_agree_on_missing_and_infinite_values():
    one = attrs_for(np.array([[np.nan, np.inf, 2.0]]), capture="stats")["ml.input.stats"]
    two = attrs_for(np.array([[np.nan, np.inf, 2.0]] * 2), capture="stats")["ml.input.stats"]
    assert one == {
        "f0": {"count": 0, "nulls": 1, "min": None, "max": None, "mean": None},
        "f1": {"count": 1, "nulls": 0, "min": None, "max": None, "mean": None},
        "f2": {"count": 1, "nulls": 0, "min": 2, "max": 2, "mean": 2},
    }
    for name, stats in two.items():
        assert {k: v for k, v in stats.items() if k not in ("count", "nulls")} == {
            k: v for k, v in one[name].items() if k not in ("count", "nulls")
        }
        assert (stats["count"], stats["nulls"]) == (2 * one[name]["count"], 2 * one[name]["nulls"])


def test_capture_rate_samples_values_on_a_fraction_of_calls():
    @modeltrace.trace_model(name="m", capture_rate=0.25, profile_rate=0)
    def predict(data):
        return np.array([1.0])

    with capture_spans() as spans:
        for _ in range(400):
            predict(np.array([[1.0, 2.0]]))
    attrs = spans.attributes()
    with_values = [a for a in attrs if "ml.input.sample" in a]
    assert 60 <= len(with_values) <= 140  # 25% of 400, with the seeded sampler
    assert all("ml.output.sample" in a for a in with_values)
    without = [a for a in attrs if "ml.input.sample" not in a]
    assert all(a["ml.input.rows"] == 1 and "ml.output.sample" not in a for a in without)


def test_capture_rate_is_validated():
    with pytest.raises(ValueError, match="capture_rate"):
        modeltrace.trace_model(name="m", capture_rate=1.5)

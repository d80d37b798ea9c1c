"""The ml_features view decodes every sample shape the same way as a plain JSON reading.

The view has a one-pass path for all-numeric samples and a general path for the rest;
each case here is checked against ``json.loads`` so a sample routed to the wrong path
shows up as a wrong row.
"""

import json
import math

import pytest

from modeltrace_collector.pipeline.flatten import TABLES

SAMPLES = {
    "numeric": '{"f0":[0.5,-1.25],"f1":[3,4]}',
    "numeric with nulls": '{"f0":[null,2.5],"f1":[1,null]}',
    "categorical": '{"city":["Paris","Oslo"],"age":[31,47]}',
    "categorical starting with null": '{"city":[null,"Oslo"],"n":[1,2]}',
    "mixed numbers and strings": '{"code":[1,"B7"]}',
    "escaped quote in a key": '{"a\\"b":[1.5],"c":[2]}',
    "escaped quote in a value": '{"q":["say \\"hi\\""],"n":[0]}',
    "empty object": "{}",
    "integers only": '{"k":[1,2,3]}',
}


def reference(sample: str) -> tuple[list[tuple[str, int, float]], list[tuple[str, int, str | None]]]:
    nums, cats = [], []
    for name, values in json.loads(sample).items():
        if any(isinstance(v, str) for v in values):
            cats += [(name, i, v if v is None else str(v)) for i, v in enumerate(values)]
        else:
            nums += [(name, i, math.nan if v is None else float(v)) for i, v in enumerate(values)]
    return nums, cats


def insert_span(store, span_id: str, sample: str) -> None:
    attrs = {"ml.model.name": "m", "ml.model.version": "1", "ml.input.sample": sample}
    row = [
        1_700_000_000_000_000_000, "ab" * 16, span_id, "", "", "predict m", "Internal", "svc", {}, "modeltrace",
        "0.1", attrs, 1000, "Unset", "", [], [], [], [], [], [], [], {},
    ]  # fmt: skip
    store.insert("otel_traces", [[v] for v in row], TABLES["otel_traces"], f"feature-view-{span_id}")


@pytest.mark.parametrize("case", sorted(SAMPLES))
def test_view_matches_a_plain_json_reading(store, case):
    sample = SAMPLES[case]
    span_id = f"{abs(hash(case)) % (1 << 63):016x}"
    insert_span(store, span_id, sample)
    rows = store.query(
        f"SELECT NumFeature, NumRow, NumValue, CatFeature, CatRow, CatValue FROM {store.database}.ml_features "
        "WHERE SpanId = {s:String} AND Side = 'input'",
        parameters={"s": span_id},
    ).result_rows
    assert len(rows) == 1
    num_f, num_r, num_v, cat_f, cat_r, cat_v = rows[0]
    nums, cats = reference(sample)
    assert list(zip(num_f, num_r)) == [(n, i) for n, i, _ in nums]
    assert [("nan" if math.isnan(v) else v) for v in num_v] == [("nan" if math.isnan(v) else v) for _, _, v in nums]
    assert list(zip(cat_f, cat_r, cat_v)) == cats


def test_invalid_sample_gives_no_feature_row(store):
    insert_span(store, "00000000000000aa", '{"f0":[1,')
    rows = store.query(f"SELECT count() FROM {store.database}.ml_features").result_rows
    assert rows == [(0,)]


@pytest.mark.parametrize("values", [list(range(70_000)), [f"c{i % 7}" for i in range(70_000)]])
def test_a_sample_keeps_its_first_65536_rows_per_feature_and_never_wraps(store, values):
    # Row numbers are UInt16: rows past 65,536 would wrap around onto rows 0, 1, ... (the SDK sends 32).
    span_id = "00000000000000bb" if isinstance(values[0], int) else "00000000000000cc"
    insert_span(store, span_id, json.dumps({"wide": values, "n": [1.5]}))
    num_r, cat_r, cat_v = store.query(
        f"SELECT NumRow, CatRow, CatValue FROM {store.database}.ml_features WHERE SpanId = {{s:String}}",
        parameters={"s": span_id},
    ).result_rows[0]
    rows = cat_r if isinstance(values[0], str) else [r for r in num_r[:-1]]
    assert rows == list(range(65_536))
    if isinstance(values[0], str):
        assert cat_v == values[:65_536]

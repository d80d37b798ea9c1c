"""Parsing of query parameters and JSON bodies, shared by every HTTP route."""

import json

import pytest

from modeltrace_collector.api.params import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    BadParameter,
    parse_flag,
    parse_int,
    parse_time,
    parse_window,
)
from modeltrace_collector.jsonbody import BadJson, load_json, load_object, nesting_depth


@pytest.mark.parametrize(
    "text, ms",
    [("1790000000", 1_790_000_000_000), ("1790000000.5", 1_790_000_000_500), ("1790000000000", 1_790_000_000_000),
     (" 1790000000000 ", 1_790_000_000_000), ("2026-09-21T14:13:20Z", 1_790_000_000_000),
     ("2026-09-21T16:13:20+02:00", 1_790_000_000_000), ("2026-09-21T14:13:20", 1_790_000_000_000),
     ("2000-01-01", MIN_TIME_MS), ("946684800", MIN_TIME_MS), ("", None), (None, None)],
)  # fmt: skip
def test_times_in_range(text, ms):
    assert parse_time(text, "at") == ms


@pytest.mark.parametrize(
    "text",
    ["nan", "inf", "-inf", "1e30", "-1e30", "-1", "0", "abc", "1999-12-31T23:59:59Z", "2200-01-01", str(MAX_TIME_MS),
     "\u0661\u0667\u0669\u0660\u0660\u0660\u0660\u0660\u0660\u0660", "1_790_000_000", "9" * 5000, " ", "0x6A"],
)  # fmt: skip
def test_times_out_of_range_or_malformed_name_the_parameter(text):
    with pytest.raises(BadParameter, match=r"^start: "):
        parse_time(text, "start")


def test_windows_are_whole_seconds_from_one_second_to_400_days():
    assert [parse_window(t) for t in ("90", "90s", "1.5m", "2h", "7d", "400d")] == [90, 90, 90, 7200, 604800, 34560000]
    assert parse_window(None, 60) == parse_window("", 60) == 60
    for text in ("0", "0.5", "401d", "-1h", "1e3", "nan", "inf", "2w", "\u0661h", "9" * 400):
        with pytest.raises(BadParameter, match=r"^bucket: "):
            parse_window(text, name="bucket")


def test_integers_are_ascii_and_bounded():
    assert parse_int("5", "limit", 1, 1, 10) == 5 and parse_int(None, "limit", 3, 1, 10) == 3
    for text in ("0", "11", "1.0", "1e1", "\u0665", "1_0", "nan", str(10**30), "9" * 5000):
        with pytest.raises(BadParameter, match=r"^limit: "):
            parse_int(text, "limit", 1, 1, 10)


def test_flags():
    assert [parse_flag(t, "live") for t in (None, "", "0", "1", "false", "true")] == [False] * 3 + [True, False, True]
    with pytest.raises(BadParameter, match="live"):
        parse_flag("yes", "live")


def test_json_bodies_refuse_constants_and_deep_nesting():
    assert load_json('{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
    assert nesting_depth({"a": [1, {"b": [[]]}]}) == 5 and nesting_depth(3) == 0
    for body, message in [("[" * 10_000 + "]" * 10_000, "nested too deeply"), ("[" * 40 + "]" * 40, "deeper than 32"),
                          ("[NaN]", "NaN is not a JSON number"), ('{"a": -Infinity}', "-Infinity"),
                          (b"\xff", "not UTF-8"), ("{", "not JSON")]:  # fmt: skip
        with pytest.raises(BadJson, match=message):
            load_json(body)
    assert load_json("[NaN]", constants=True)[0] != load_json("[NaN]", constants=True)[0]  # nan


def test_objects_are_parsed_a_member_at_a_time():
    seen = []

    def convert(outer, name, value):
        seen.append((outer, name))
        return len(value)

    text = ' { "model" : "m", "features": {"a": [1, 2], "b": []}, "outputs": [1], "x": {"y": [3]} } '
    assert load_object(text, ("features", "outputs"), convert) == {
        "model": "m",
        "features": {"a": 2, "b": 0},
        "outputs": [1],
        "x": {"y": [3]},
    }
    assert seen == [("features", "a"), ("features", "b")]
    assert load_object(json.dumps({"features": {}}), ("features",), convert) == {"features": {}}
    for body, message in [("[]", "expecting an object"), ('{"a": 1} x', "extra data"), ('{"a" 1}', "expecting ':'"),
                          ('{"a": 1 "b": 2}', "expecting ','"), ("{a: 1}", "double quotes"),
                          ('{"features": {"a": ' + "[" * 10_000 + "]" * 10_000 + "}}", "nested too deeply"),
                          ('{"features": {"a": [NaN]}}', "NaN")]:  # fmt: skip
        with pytest.raises(BadJson, match=message):
            load_object(body, ("features",), convert)

"""Redacted features never leave the process: not in samples, statistics or previews."""

import json
import re

import numpy as np
import pandas as pd

import modeltrace
from modeltrace.testing import capture_spans

FRAME = pd.DataFrame(
    {
        "email": ["a@x.io", "b@y.io", "c@z.io"],
        "ssn_last4": [1234, 5678, 9012],
        "card_number": ["4111", "5500", "3400"],
        "amount": [12.5, 99.0, 3.25],
    }
)


def run(redact, x=FRAME, **options):
    @modeltrace.trace_model(name="m", redact=redact, profile_rate=0, **options)
    def predict(data):
        return np.zeros(len(data))

    with capture_spans() as spans:
        predict(x)
    return spans.dicts(parse_json=False)[0]["attributes"]


def test_redact_by_name_regex_and_predicate():
    a = run(["email", re.compile(r"^ssn"), lambda name: "card" in name])
    assert json.loads(a["ml.input.sample"]) == {"amount": [12.5, 99, 3.25]}
    assert a["ml.input.redacted"] == ["email", "ssn_last4", "card_number"]
    assert a["ml.input.columns"] == 4  # the shape is still reported


def test_redacted_values_are_absent_from_every_attribute():
    a = run(["email", "ssn_last4", "card_number"], capture="full", sample_rows=1)
    text = json.dumps(a)
    for secret in ["a@x.io", "b@y.io", "c@z.io", "1234", "5678", "9012", "4111", "5500", "3400"]:
        assert secret not in text
    assert json.loads(a["ml.input.value"]) == [{"amount": 12.5}, {"amount": 99}, {"amount": 3.25}]
    stats = json.loads(a["ml.input.stats"])
    assert list(stats) == ["amount"]


def test_redaction_applies_to_arrays_by_feature_name():
    a = run(["income"], x=np.array([[50_000.0, 31.0]]), feature_names=["income", "age"])
    assert json.loads(a["ml.input.sample"]) == {"age": [31]}


def test_a_predicate_that_matches_everything_sends_no_values():
    a = run(lambda name: True)
    assert "ml.input.sample" not in a
    assert a["ml.input.redacted"] == ["email", "ssn_last4", "card_number", "amount"]

"""The NAB standard-profile scoring of tests/bench/nab.py on cases worked out by hand.

One window [100, 199] (L = 100 points) after a probation of 50 points; sigmoid(x) = 2 / (1 + e^(5x)) - 1.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.bench import nab

WIN = [(100, 199)]
PROBATION = 50
AT_START = 0.986614  # sigmoid(-1) = 2 / (1 + e^-5) - 1


def raw(detections, windows=WIN, probation=PROBATION):
    return nab.score(detections, windows, probation).raw


def test_sigmoid_convention():
    assert nab.sigmoid(-1) == pytest.approx(AT_START, abs=1e-6)
    assert nab.sigmoid(0) == 0
    assert nab.sigmoid(1) == pytest.approx(-AT_START, abs=1e-6)


def test_a_window_detected_at_its_start_is_worth_the_perfect_score():
    assert raw([100]) == pytest.approx(AT_START, abs=1e-6)
    assert nab.perfect_score(WIN, PROBATION) == pytest.approx(AT_START, abs=1e-6)
    assert nab.normalised(raw([100]), nab.null_score(WIN), nab.perfect_score(WIN, PROBATION)) == pytest.approx(100)


def test_later_in_the_window_is_worth_less_and_only_the_first_detection_counts():
    assert raw([150]) == pytest.approx(0.848284, abs=1e-6)  # sigmoid(-50/100) = 2 / (1 + e^-2.5) - 1
    assert raw([199]) == pytest.approx(0.024995, abs=1e-6)  # sigmoid(-1/100), the last point
    assert raw([150, 160, 199]) == pytest.approx(0.848284, abs=1e-6)
    sc = nab.score([150, 160, 199], WIN, PROBATION)
    assert (sc.detected, sc.fp, sc.hits) == (1, 0, [150])


def test_a_missed_window_costs_one():
    sc = nab.score([], WIN, PROBATION)
    assert (sc.raw, sc.detected, sc.windows) == (-1.0, 0, 1)
    assert nab.normalised(sc.raw, nab.null_score(WIN), nab.perfect_score(WIN, PROBATION)) == 0


def test_false_positive_weights():
    # before every window: the full -0.11 (and the window is missed: -1)
    assert raw([60]) == pytest.approx(-1.11, abs=1e-9)
    # one window length after it, (298 - 199) / (100 - 1) = 1: 0.11 * sigmoid(1)
    assert raw([100, 298]) == pytest.approx(AT_START - 0.108528, abs=1e-6)
    # right after it: almost free, 0.11 * sigmoid(1/99)
    assert raw([100, 200]) == pytest.approx(AT_START - 0.002777, abs=1e-6)
    assert nab.score([60, 100, 200, 298], WIN, PROBATION).fp == 3


def test_probation_detections_are_ignored():
    assert raw([10, 49]) == -1.0
    assert raw([10, 49, 100]) == pytest.approx(AT_START, abs=1e-6)
    assert nab.probation_length(4032) == 604 and nab.probation_length(100_000) == 750


def test_normalisation_sums_the_series_of_a_group():
    a = nab.NabSeries("g", "a", np.zeros(1000), [(200, 299)])  # probation 150
    b = nab.NabSeries("g", "b", np.zeros(1000), [(400, 499), (700, 799)])
    # a: detected at its start (0.986614), and an FP before its window (-0.11); b: both missed (-2)
    value, total = nab.group_score({a.key: [160, 200]}, [a, b])
    null, perfect = -3.0, 3 * AT_START
    assert value == pytest.approx(100 * ((AT_START - 0.11 - 2) - null) / (perfect - null))
    assert (total.windows, total.detected, total.fp) == (3, 1, 1)
    # the detector that never fires scores 0, the one at every window start 100
    assert nab.group_score({}, [a, b])[0] == 0
    assert nab.group_score({a.key: [200], b.key: [400, 700]}, [a, b])[0] == pytest.approx(100)


def test_gaussian_merged_detections():
    z = np.zeros(30)
    z[[3, 4, 5, 12, 20, 22]] = 5.0
    assert nab.gaussian_detections(z, 4.0) == [3, 4, 5, 12, 20, 22]
    assert nab.gaussian_detections(z, 4.0, merge_gap=5) == [3, 12, 20]


def test_latency_map_is_fixed_by_the_probation_part():
    values = np.concatenate([np.zeros(97), np.full(3, 20.0), [-100.0, 40.0]])
    ms, lo, hi = nab.latency_map(values, 100)
    assert (lo, hi) == (0.0, 20.0)  # the 5 % and 95 % quantiles coincide at 0: min and max instead
    assert list(ms[[0, 99, 100, 101]]) == [20.0, 120.0, 0.5, 220.0]

"""The confirmation's interval: Student t over one mixture's runs with different seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from admire.app.confirm import Confirmation, confirmation, fresh_seeds, study_value
from admire.schema import runs


def test_interval_is_students_prediction_interval_and_covers_90_percent_of_new_runs():
    c = Confirmation("target", {0: 2.0, 1: 2.2, 2: 2.1}, study_seed=0)
    lower, upper = c.run_interval()
    half = stats.t.ppf(0.95, 2) * 0.1 * np.sqrt(1 + 1 / 3)  # sd of 2.0, 2.2, 2.1 is 0.1
    assert (lower, upper) == pytest.approx((2.1 - half, 2.1 + half))
    # calibrated whatever the seed noise: 3 runs, then a 4th, many times over
    rng = np.random.default_rng(0)
    for sd in (0.01, 0.3):
        draws = rng.normal(2.0, sd, size=(4000, 4))
        inside = 0
        for row in draws:
            lo, hi = Confirmation("t", dict(enumerate(row[:3])), None).run_interval()
            inside += lo <= row[3] <= hi
        assert inside / len(draws) == pytest.approx(0.90, abs=0.015)


def test_one_run_has_no_interval_and_the_dict_says_so():
    c = Confirmation("target", {1: 2.0}, study_seed=None)
    assert c.run_interval() is None
    d = c.to_dict()
    assert d["run_lower90"] is None and d["sd"] is None and d["seeds"] == [1]


def test_the_studys_own_run_joins_the_fresh_ones_only_for_the_same_mixture_and_rung():
    table = pd.DataFrame({runs.RUNG: ["r0", "r1", "r1", "r1"],
                          runs.STATUS: [runs.COMPLETED, runs.FAILED, runs.COMPLETED,
                                        runs.COMPLETED],
                          "w:a": [0.25, 0.25, 0.5, 0.25], "w:b": [0.75, 0.75, 0.5, 0.75],
                          "m:loss": [9.0, 8.0, 3.0, 2.5]})
    # the failed r1 run and the r0 run of the same mixture are not the study's target run
    assert study_value(table, "m:loss", "r1", {"b": 0.75, "a": 0.25}) == 2.5
    assert study_value(table, "m:loss", "r1", {"a": 0.3, "b": 0.7}) is None
    c = confirmation("r1", {1: 2.6, 2: 2.7}, 0, own=2.5)
    assert c.values == {0: 2.5, 1: 2.6, 2: 2.7} and c.study_seed == 0
    assert confirmation("r1", {1: 2.6}, 0, own=None).study_seed is None
    assert fresh_seeds(5, 2) == [6, 7]

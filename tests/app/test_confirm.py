"""The confirmation's interval: Student t over one mixture's runs with different seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from admire.app.confirm import (
    Confirmation,
    confirmation,
    fresh_seeds,
    pooled_seed_sd,
    study_value,
    with_seed_noise,
)
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


def test_the_seed_sd_is_pooled_within_mixtures_so_their_levels_do_not_count():
    assert pooled_seed_sd([[2.0]]) is None  # no replicate, no spread
    sd, df = pooled_seed_sd([[1.0, 1.2], [5.0, 5.4, 5.2], [9.0]])
    # squares about each mixture's own mean: 0.02 + 0.08 over 1 + 2 degrees of freedom
    assert df == 3 and sd == pytest.approx(np.sqrt(0.10 / 3))


def test_the_widened_interval_covers_a_fresh_seed_where_the_models_alone_does_not():
    # the model's interval for another study-seed run is exactly right for that run; a run
    # with a fresh seed adds its own noise, measured from replicates of other mixtures
    lower, upper = with_seed_noise(1.0, 3.0, seed_sd=0.0, df=10**6)
    assert (lower, upper) == pytest.approx((1.0, 3.0), abs=1e-5)  # nothing to add
    rng = np.random.default_rng(1)
    model_sd, seed_sd, z = 0.05, 0.1, stats.norm.ppf(0.95)
    inside_model = inside_widened = 0
    trials = 4000
    for _ in range(trials):
        centre = rng.normal(0.0, model_sd)  # the model's error for the study seed's run
        fresh = rng.normal(0.0, seed_sd)  # the fresh seed's own deviation
        replicates = rng.normal(0.0, seed_sd, size=(3, 2)) + [[0.0], [1.0], [2.0]]
        sd, df = pooled_seed_sd(replicates.tolist())
        lo, hi = centre - z * model_sd, centre + z * model_sd
        inside_model += lo <= fresh <= hi
        wlo, whi = with_seed_noise(lo, hi, sd, df)
        inside_widened += wlo <= fresh <= whi
    assert inside_model / trials < 0.6
    assert inside_widened / trials == pytest.approx(0.90, abs=0.02)

"""Live calibration: fresh-seed runs against a study's 90% intervals for a new run."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import make_config, score

from admire.app.evaluations import (
    ANY_SEED_INTERVAL,
    IntervalCheck,
    MixtureResult,
    any_seed_checks,
    coverage_line,
    interval_checks,
    weights_key,
)
from admire.study import Study
from admire.study.loop import run_function


def test_fresh_runs_are_counted_against_the_studys_new_run_interval():
    study = Study(make_config(policy="screen-confirm", budget=8.0))
    run_function(study, score, trials=14)  # MIN_LOO target runs: intervals to check
    domains = study.space.domains

    def predict(weights):
        return study.predict(np.array([weights[d] for d in domains]))

    mixture = {"d0": 0.6, "d1": 0.2, "d2": 0.2}
    interval = predict(mixture)
    low, high = interval.run_lower90, interval.run_upper90
    results = [MixtureResult("near", mixture, "large", {1: (low + high) / 2, 2: high + 1.0}),
               MixtureResult("untrained", {"d0": 0.1, "d1": 0.1, "d2": 0.8}, "large", {})]
    checks = interval_checks(results, predict)
    assert [c.name for c in checks] == ["near"]  # a mixture with no run is not checked
    assert (checks[0].lower, checks[0].upper) == (low, high) and checks[0].inside == 1
    line = coverage_line(checks)
    assert line.startswith("live check of the study's 90% intervals for a new run: 1/2 fresh")
    assert "near 1/2 in [" in line
    assert coverage_line([]) is None
    far = IntervalCheck("far", low, high, (low,), extrapolates=True)
    assert "far 1/1 in [" in coverage_line([far]) and "(extrapolation)" in coverage_line([far])
    assert "(extrapolation)" not in line
    # a policy without a model has no interval to check
    assert interval_checks(results, lambda w: None) == []


def test_any_seed_checks_widen_by_the_other_mixtures_seed_spread_never_their_own():
    a, b, c = ({"x": 1.0, "y": 0.0}, {"x": 0.5, "y": 0.5}, {"x": 0.0, "y": 1.0})
    results = [MixtureResult("a", a, "t", {1: 2.0, 2: 2.9}),
               MixtureResult("b", b, "t", {1: 3.0, 2: 3.1}),
               MixtureResult("c", c, "t", {1: 4.0})]
    checks = [IntervalCheck(r.name, 1.9, 2.1, tuple(r.values.values())) for r in results]
    replicates = {weights_key(a): [2.0, 2.9, 2.05], weights_key(b): [3.0, 3.1],
                  weights_key(c): [4.0]}
    widened = {w.name: w for w in any_seed_checks(checks, results, replicates)}
    assert set(widened) == {"a", "b", "c"}
    for w in widened.values():
        assert w.lower < 1.9 and w.upper > 2.1 and w.lower + w.upper == pytest.approx(4.0)
    # a's own wide spread widens b's and c's interval, never a's: a is measured on b alone
    assert widened["a"].upper - widened["a"].lower < widened["b"].upper - widened["b"].lower
    # with no replicate but its own, a mixture is not checked
    only_a = {weights_key(a): [2.0, 2.9]}
    assert [w.name for w in any_seed_checks(checks, results, only_a)] == ["b", "c"]
    assert any_seed_checks(checks[:1], results, only_a) == []
    line = coverage_line(list(widened.values()), ANY_SEED_INTERVAL)
    assert line.startswith("live check of the same widened by the seed spread")


def test_one_seed_shows_its_value_without_a_spread():
    from admire.app.evaluate import mean_sd

    one = MixtureResult("uniform", {"a": 0.5, "b": 0.5}, "large", {1: 2.4755})
    assert mean_sd(one) == "2.4755 (one seed)"
    two = MixtureResult("uniform", {"a": 0.5, "b": 0.5}, "large", {1: 2.0, 2: 2.2})
    assert mean_sd(two).startswith("2.1000 ± 0.14")

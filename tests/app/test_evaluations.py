"""Live calibration: fresh-seed runs against a study's 90% intervals for a new run."""

from __future__ import annotations

import numpy as np
from helpers import make_config, score

from admire.app.evaluations import MixtureResult, coverage_line, interval_checks
from admire.study import Study
from admire.study.loop import run_function


def test_fresh_runs_are_counted_against_the_studys_new_run_interval():
    study = Study(make_config(policy="screen-confirm", budget=5.0))
    run_function(study, score, trials=8)
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
    # a policy without a model has no interval to check
    assert interval_checks(results, lambda w: None) == []

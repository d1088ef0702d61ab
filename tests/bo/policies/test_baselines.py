"""The practitioner baselines as policies: where they spend and what they recommend."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from helpers import make_config, make_pool, score

from admire.bo.policies.registry import policy_spec
from admire.study import Study
from admire.study.loop import run_function


def baseline_study(policy: str) -> Study:
    config = replace(make_config(mode="pool", max_trials=60), policy=policy_spec(policy))
    return Study(config, pool=make_pool(n_mix=16))


@pytest.mark.parametrize(("policy", "rung"), [("random", "large"), ("sfbo", "large"),
                                              ("regmix", "small")])
def test_baselines_spend_only_at_their_rung(policy, rung):
    study = baseline_study(policy)
    run_function(study, score, trials=10)
    assert set(study.runs["rung"]) == {rung}
    assert study.runs["run_id"].is_unique and len(study.runs) == 10


def test_random_recommends_the_best_target_run_seen():
    study = baseline_study("random")
    run_function(study, score, trials=6)
    rec = study.recommend()
    best = study.runs["m:score"].idxmax()
    assert rec.predicted == pytest.approx(study.runs.loc[best, "m:score"])
    assert rec.basis == "observed" and rec.lower90 is None


def test_sfbo_recommends_its_best_posterior_mean_with_an_interval():
    study = baseline_study("sfbo")
    run_function(study, score, trials=8)
    rec = study.recommend()
    assert rec.basis == "model" and rec.lower90 < rec.predicted < rec.upper90
    # The known function peaks at d0 = 0.6: the recommendation is closer to it than the median
    # target mixture.
    w = rec.weights(study.space.domains)
    targets = study.pool.mixtures_at(2)
    assert abs(w[0] - 0.6) <= np.median(np.abs(targets[:, 0] - 0.6))


def test_regmix_regresses_cheap_runs_onto_the_target_mixtures():
    study = baseline_study("regmix")
    run_function(study, score, trials=12)
    rec = study.recommend()
    w = rec.weights(study.space.domains)
    assert any(np.allclose(w, t) for t in study.pool.mixtures_at(2))
    assert rec.basis == "model" and rec.lower90 is None

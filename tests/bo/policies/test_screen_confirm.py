"""Screen-confirm after a warm start: where its screens go (prior_screens), in both modes."""

from __future__ import annotations

import numpy as np
import pytest
import warm_studies
from helpers import make_config
from warm_studies import NEW, new_score, warm_config

from admire.bo.candidates import CandidatePool
from admire.study import Study
from admire.study.loop import run_function


@pytest.fixture(scope="module")
def old_study(tmp_path_factory):
    return warm_studies.old_study(tmp_path_factory.mktemp("old") / "study")


def update_pool() -> CandidatePool:
    """40 mixtures over the updated domains, each at all three rungs."""
    mixtures = np.random.default_rng(0).dirichlet(np.ones(len(NEW)), size=40)
    return CandidatePool(np.repeat(mixtures, 3, axis=0), np.tile(np.arange(3), 40),
                         tuple(f"c{i}" for i in range(120)))


def test_favourite_screens_go_to_the_best_predicted_open_mixtures(old_study):
    pool = update_pool()
    study = Study(warm_config(old_study, policy="screen-confirm", mode="pool",
                              prior_screens="favourites"), pool=pool)
    for _ in range(3):
        history = study.history()
        surrogate = study.policy.model(history)
        cheap = study.policy.pool.open_rows(history)
        cheap = cheap[pool.rung[cheap] == 0]
        best = cheap[np.argmax(surrogate.predict_mean(pool.weights[cheap], 2))]
        (proposal,) = study.propose(1)
        assert proposal.rung == "small"  # no start design: the first trial is a screen
        assert proposal.candidate_id == pool.ids[best]
        metrics, cost = new_score(proposal.mixture, proposal.rung)
        study.complete(proposal.trial_index, metrics, cost)


def test_without_screens_a_warm_study_confirms_from_the_first_trial(old_study):
    study = Study(warm_config(old_study, policy="screen-confirm", prior_screens="none"))
    run_function(study, new_score, trials=3)
    assert set(study.runs["rung"]) == {"large"}


def test_prior_screens_change_nothing_without_earlier_runs():
    studies = [Study(make_config(policy="screen-confirm", budget=3.0, prior_screens=value))
               for value in ("space-filling", "favourites", "none")]
    for study in studies:
        run_function(study, warm_studies.score, trials=6)
    first = studies[0].runs[["rung"]].assign(w=studies[0].runs["w:d0"])
    for study in studies[1:]:
        assert study.runs[["rung"]].assign(w=study.runs["w:d0"]).equals(first)

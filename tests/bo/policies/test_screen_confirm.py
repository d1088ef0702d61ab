"""Screen-confirm after a warm start: where its screens go (prior_screens), in both modes."""

from __future__ import annotations

import numpy as np
import pytest
import warm_studies
from helpers import make_config, make_pool, score
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


def test_by_default_a_warm_study_confirms_from_the_first_trial(old_study):
    study = Study(warm_config(old_study, policy="screen-confirm"))
    assert study.policy.options.prior_screens == "none"
    run_function(study, new_score, trials=3)
    assert set(study.runs["rung"]) == {"large"}


def test_space_filling_prior_screens_screen_first_as_a_fresh_study_does(old_study):
    study = Study(warm_config(old_study, policy="screen-confirm", budget=6.0,
                              prior_screens="space-filling"))
    run_function(study, new_score, trials=3)
    assert set(study.runs["rung"]) == {"small"}


def test_prior_screens_change_nothing_without_earlier_runs():
    studies = [Study(make_config(policy="screen-confirm", budget=3.0, prior_screens=value))
               for value in ("space-filling", "favourites", "none")]
    for study in studies:
        run_function(study, warm_studies.score, trials=6)
    first = studies[0].runs[["rung"]].assign(w=studies[0].runs["w:d0"])
    for study in studies[1:]:
        assert study.runs[["rung"]].assign(w=study.runs["w:d0"]).equals(first)


def target_runs(study: Study) -> np.ndarray:
    runs = study.runs[study.runs["rung"] == "large"]
    return runs[[c for c in runs.columns if c.startswith("w:")]].to_numpy()


@pytest.mark.parametrize("mode", ["continuous", "pool"])
def test_target_design_spends_the_first_target_runs_on_seeded_random_mixtures(mode):
    pool = make_pool(20) if mode == "pool" else None

    def study(design: int, seed: int = 0) -> Study:
        return Study(make_config(policy="screen-confirm", mode=mode, budget=4.0, seed=seed,
                                 target_design=design), pool=pool)

    designed, again, plain, other_seed = study(2), study(2), study(0), study(2, seed=1)
    for each in (designed, again, plain, other_seed):
        run_function(each, score, trials=8)
    first = target_runs(designed)
    assert len(first) >= 3 and len(target_runs(plain)) >= 3
    np.testing.assert_array_equal(first, target_runs(again))  # seeded
    assert not np.allclose(first[:2], target_runs(other_seed)[:2])
    # the model's confirmations go where the score is best (d0 = 0.6); the design does not
    model_pick = np.abs(target_runs(plain)[:2, 0] - 0.6).mean()
    assert np.abs(first[:2, 0] - 0.6).mean() > model_pick


def test_target_runs_already_made_count_toward_the_design():
    """Two references at the target: a design of two adds nothing, so the study proposes
    exactly what it would without one."""
    studies = [Study(make_config(policy="screen-confirm", budget=4.0, target_design=design))
               for design in (2, 0)]
    for study in studies:
        for name, mixture in (("uniform", [1 / 3] * 3), ("corner", [0.8, 0.1, 0.1])):
            index = study.attach(np.array(mixture), "large", reference=name)
            study.complete(index, *score(study.proposal_of(index).mixture, "large"))
        run_function(study, score, trials=6)
    np.testing.assert_array_equal(target_runs(studies[0]), target_runs(studies[1]))
    assert studies[0].runs["rung"].tolist() == studies[1].runs["rung"].tolist()


@pytest.mark.parametrize(("mode", "rule"), [("continuous", "ei"), ("pool", "mean")])
def test_the_default_confirms_by_expected_improvement_live_and_by_the_mean_in_a_pool(mode, rule):
    """Live, best-mean confirmations pile up where the screens point
    (bench/results/live_synthetic_auto.md); in a pool they spread over the best rows."""

    def runs(**options) -> np.ndarray:
        config = make_config(policy="screen-confirm", mode=mode, budget=6.0, max_trials=None,
                             initial_trials=3, **options)
        study = Study(config, pool=make_pool(n_mix=40, seed=1) if mode == "pool" else None)
        run_function(study, score)
        return study.runs[[f"w:d{i}" for i in range(3)]].to_numpy()

    default, same, other = runs(), runs(confirm=rule), runs(confirm={"ei": "mean",
                                                                     "mean": "ei"}[rule])
    np.testing.assert_array_equal(default, same)
    assert default.shape != other.shape or not np.array_equal(default, other)

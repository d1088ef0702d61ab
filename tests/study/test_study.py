"""The Study on Ax: valid proposals, pool bookkeeping, resume, refusal of bad metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import LADDER, make_config, score

from admire.errors import ValidationError
from admire.evaluators.callable import run_study
from admire.study import Study
from admire.study.ax_bridge import CandidatePool, PoolExhausted


@pytest.mark.parametrize("k", [3, 19, 60])
def test_continuous_proposals_are_valid_mixtures(k):
    config = make_config(k, lower=0.1 / k, upper=min(1.0, 4.0 / k), initial_trials=2)
    study = Study(config)
    run_study(study, score, max_trials=4, batch=2)
    space = config.space()
    for trial in study.experiment.trials.values():
        w = space.weights_from_params(trial.arm.parameters)
        assert abs(w.sum() - 1) <= 1e-9
        assert (w >= space.lower_array - 1e-12).all() and (w <= space.upper_array + 1e-12).all()
    assert study.n_completed == 4
    rec = study.recommend()
    assert rec.lower90 <= rec.predicted <= rec.upper90
    assert rec.rung == "large"


def make_pool(n_mix: int = 12, k: int = 3, seed: int = 0) -> CandidatePool:
    rng = np.random.default_rng(seed)
    mixtures = rng.dirichlet(np.ones(k), size=n_mix)
    weights = np.repeat(mixtures, 3, axis=0)
    rungs = np.tile(np.arange(3), n_mix)
    return CandidatePool(weights, rungs, tuple(f"c{i}" for i in range(len(rungs))))


def test_pool_mode_never_proposes_a_used_candidate():
    pool = make_pool()
    study = Study(make_config(mode="pool", initial_trials=2), pool=pool)
    seen = []
    for _ in range(len(pool)):
        (proposal,) = study.propose(1)
        assert proposal.candidate_id not in seen
        seen.append(proposal.candidate_id)
        study.complete(proposal.trial_index, *score(proposal.mixture, proposal.rung))
    assert sorted(seen) == sorted(pool.ids)
    with pytest.raises(PoolExhausted):
        study.propose(1)


def test_pending_trials_are_not_proposed_twice():
    study = Study(make_config(mode="pool", initial_trials=1), pool=make_pool())
    first = study.propose(1)[0]
    study.complete(first.trial_index, *score(first.mixture, first.rung))
    batch = study.propose(3)
    assert len({p.candidate_id for p in batch}) == 3
    assert first.candidate_id not in {p.candidate_id for p in batch}


@pytest.mark.parametrize("mode", ["pool", "continuous"])
def test_save_kill_load_resumes_with_identical_next_proposal(tmp_path, mode):
    pool = make_pool() if mode == "pool" else None
    study = Study(make_config(mode=mode, initial_trials=2), pool=pool)
    run_study(study, score, max_trials=5)
    study.save(tmp_path / "s")
    expected = study.propose(1)[0]
    del study  # the process that saved is gone: only the files remain
    resumed = Study.load(tmp_path / "s")
    assert resumed.n_completed == 5 and len(resumed.runs) == 5
    got = resumed.propose(1)[0]
    assert got.trial_index == expected.trial_index
    assert got.rung == expected.rung and got.candidate_id == expected.candidate_id
    assert got.mixture == pytest.approx(expected.mixture, abs=1e-12)


def test_resume_after_recommend_and_a_plus_in_the_metric_name(tmp_path):
    """Saved after a fit on the final data (recommend), reloaded through Ax's JSON: the next
    proposal is the same, and a metric named like 'avg_id+ood' stays one metric."""
    pool = make_pool()
    config = make_config(mode="pool", initial_trials=2)
    config = type(config)(**{**config.__dict__, "objective": type(config.objective)("a+b")})

    def plus(mixture, rung):
        metrics, cost = score(mixture, rung)
        return {"a+b": metrics["score"]}, cost

    study = run_study(Study(config, pool=pool), plus, max_trials=6)
    study.recommend()
    study.save(tmp_path / "s")
    expected = study.propose(1)[0]
    resumed = Study.load(tmp_path / "s")
    assert resumed.experiment.optimization_config.objective.metric_names == ["a_b"]
    assert resumed.experiment._properties["admire_objective"] == "a+b"
    got = resumed.propose(1)[0]
    assert got.candidate_id == expected.candidate_id
    resumed.complete(got.trial_index, *plus(got.mixture, got.rung))
    assert resumed.planner.training_data(resumed.experiment).n == 7


def test_abandoned_trial_writes_no_row_and_is_not_reproposed():
    study = Study(make_config(mode="pool", initial_trials=1), pool=make_pool())
    (p,) = study.propose(1)
    study.abandon(p.trial_index, "over budget")
    assert len(study.runs) == 0
    (q,) = study.propose(1)
    assert q.candidate_id != p.candidate_id


def test_nan_metric_is_refused_and_never_reaches_the_model():
    study = Study(make_config(initial_trials=1))
    run_study(study, score, max_trials=2)
    (proposal,) = study.propose(1)
    with pytest.raises(ValidationError, match="metric 'score' is nan; refused"):
        study.complete(proposal.trial_index, {"score": math.nan, "other": 1.0}, 1.0)
    study.planner.update(study.experiment)
    assert study.planner.data.n == 2
    assert not np.isnan(study.planner.data.y).any()
    study.fail(proposal.trial_index, "NaN objective")
    assert study.runs["status"].tolist() == ["completed", "completed", "failed"]
    assert study.planner.training_data(study.experiment).n == 2


def test_evaluator_errors_fail_the_trial_and_the_study_goes_on():
    calls = {"n": 0}

    def flaky(mixture, rung):
        calls["n"] += 1
        if calls["n"] == 2:
            raise MemoryError("out of memory")
        if calls["n"] == 3:
            return {"score": math.inf, "other": 0.0}, 1.0
        return score(mixture, rung)

    study = run_study(Study(make_config(initial_trials=1)), flaky, max_trials=5)
    statuses = study.runs["status"].tolist()
    assert statuses.count("failed") == 2 and statuses.count("completed") == 3
    reasons = [t.run_metadata.get("failure_reason", "") for t in study.experiment.trials.values()]
    assert any("MemoryError: out of memory" in r for r in reasons)
    assert any("is inf" in r for r in reasons)


def test_complete_rejects_unknown_trials_and_missing_objective():
    study = Study(make_config(initial_trials=1))
    (p,) = study.propose(1)
    with pytest.raises(ValidationError, match="objective 'score' missing"):
        study.complete(p.trial_index, {"other": 1.0}, 1.0)
    with pytest.raises(ValidationError, match="no trial 99"):
        study.complete(99, {"score": 1.0}, 1.0)
    study.complete(p.trial_index, *score(p.mixture, p.rung))
    with pytest.raises(ValidationError, match="is completed, not running"):
        study.complete(p.trial_index, *score(p.mixture, p.rung))


def test_minimize_recommends_the_low_end():
    study = Study(make_config(minimize=True, initial_trials=3))
    run_study(study, lambda m, r: ({"score": -score(m, r)[0]["score"],
                                    "other": 0.0}, LADDER.rung(r).cost_estimate), max_trials=6)
    rec = study.recommend()
    assert rec.predicted < 0


def test_proxy_share_caps_spending_below_the_target():
    config = make_config(mode="pool", initial_trials=1)
    config = type(config)(**{**config.__dict__, "budget": 20.0}).with_strategy(proxy_share=0.1)
    study = Study(config, pool=make_pool(n_mix=20))
    rungs = []
    for _ in range(12):
        (p,) = study.propose(1)
        rungs.append(p.rung)
        study.complete(p.trial_index, *score(p.mixture, p.rung))
    cheap_units = sum(LADDER.rung(r).cost_estimate for r in rungs if r != "large") / 10.0
    # Once 2 target-run units have gone below the target, only the target is proposed.
    assert study.planner.proxy_spent(study.experiment, []) == pytest.approx(cheap_units)
    first_capped = next(i for i in range(len(rungs))
                        if sum(LADDER.rung(r).cost_estimate for r in rungs[:i]
                               if r != "large") / 10.0 >= 2.0) if cheap_units >= 2.0 else None
    if first_capped is not None:
        assert set(rungs[first_capped:]) == {"large"}
    assert cheap_units < 2.0 + 0.4 + 1e-9  # at most one medium run past the cap


def test_load_reconciles_a_crash_between_the_two_writes(tmp_path):
    """Killed after runs.parquet got a trial's row but before experiment.json did: on load
    the trial is completed from the row, exactly once, and the two agree."""
    study = Study(make_config(mode="pool", initial_trials=2), pool=make_pool())
    run_study(study, score, max_trials=3)
    (p,) = study.propose(1)
    study.save(tmp_path / "s")  # experiment.json: trial 3 running
    stale_experiment = (tmp_path / "s" / "experiment.json").read_bytes()
    study.complete(p.trial_index, *score(p.mixture, p.rung))
    study.save(tmp_path / "s")
    (tmp_path / "s" / "experiment.json").write_bytes(stale_experiment)  # the crash window
    resumed = Study.load(tmp_path / "s")
    assert resumed.n_completed == 4 and len(resumed.runs) == 4
    data = resumed.experiment.lookup_data().df
    objective = data[data["metric_name"] == "score"].set_index("trial_index")["mean"]
    expected = {int(r.split("-")[-1]): v for r, v in zip(resumed.runs["run_id"],
                                                          resumed.runs["m:score"], strict=True)}
    # Ax's JSON store keeps about 10 significant digits; the runs table keeps them all.
    assert objective.to_dict() == pytest.approx(expected, rel=1e-9)


def test_screen_confirm_screens_cheap_then_confirms_the_best_predicted_in_order():
    config = make_config(mode="pool", initial_trials=1)
    config = type(config)(**{**config.__dict__, "budget": 20.0}).with_strategy(proxy_share=0.1)
    assert config.strategy.policy == "screen-confirm"
    pool = make_pool(n_mix=30)
    # Mixtures 25-29 have no target row: the screen must prefer the 25 that can be confirmed.
    keep = ~((pool.rung == 2) & (np.arange(len(pool)) >= 75))
    pool = CandidatePool(pool.weights[keep], pool.rung[keep],
                         tuple(i for i, k in zip(pool.ids, keep, strict=True) if k))
    confirmable = {tuple(np.round(w, 6)) for w in pool.weights[pool.rung == 2]}
    study = Study(config, pool=pool)
    rungs = []
    for _ in range(25):
        (p,) = study.propose(1)
        rungs.append(p.rung)
        if p.rung == "small":
            w = np.array([p.mixture[d] for d in config.domain_names])
            assert tuple(np.round(w, 6)) in confirmable
        else:
            # A confirmation has the best target-rung posterior mean of the open target rows.
            planner = study.planner
            open_rows = planner.open_pool(study.experiment, [])  # without the one proposed
            open_target = open_rows[pool.rung[open_rows] == 2]
            others, _ = planner.surrogate.predict(pool.weights[open_target], 2)
            w = np.array([p.mixture[d] for d in config.domain_names])
            chosen, _ = planner.surrogate.predict(w[None, :], 2)
            assert chosen[0] >= others.max() - 1e-12
        study.complete(p.trial_index, *score(p.mixture, p.rung))
    n_screen = 20  # 2 units of proxy share at 0.1 units per small run
    assert rungs[:n_screen] == ["small"] * n_screen
    assert set(rungs[n_screen:]) == {"large"}

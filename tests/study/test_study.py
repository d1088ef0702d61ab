"""The Study: valid proposals, pool bookkeeping, resume, the Budget, refusal of bad metrics."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from helpers import LADDER, make_config, make_pool, score, with_options

from admire.bo.candidates import CandidatePool
from admire.bo.surrogate import MIN_LOO
from admire.errors import ConfigError, ValidationError
from admire.schema.config import DomainConfig
from admire.study import Study
from admire.study.loop import run_function


@pytest.mark.parametrize("k", [3, 19, 60])
def test_continuous_proposals_are_valid_mixtures(k):
    config = make_config(k, lower=0.1 / k, upper=min(1.0, 4.0 / k))
    study = Study(config)
    run_function(study, score, trials=4, batch=2, max_parallel=2)
    space = config.space()
    for index in study.experiment.trials:
        w = space.weights_from_params(study.ax.params(index))
        assert abs(w.sum() - 1) <= 1e-9
        assert (w >= space.lower_array - 1e-12).all() and (w <= space.upper_array + 1e-12).all()
    assert study.n_completed == 4
    rec = study.recommend()
    assert rec.rung == "large"
    # The prediction reported is the policy's posterior mean at the recommended mixture.
    weights = rec.weights(space.domains)
    mean, _ = study.policy.model(study.history()).predict(weights[None, :], 2)
    assert rec.predicted == pytest.approx(float(mean[0]), rel=1e-9)


def test_pool_mode_never_proposes_a_used_candidate_and_says_when_it_runs_out():
    pool = make_pool()
    study = Study(make_config(mode="pool"), pool=pool)
    seen = []
    for _ in range(len(pool)):
        (proposal,) = study.propose(1)
        assert proposal.candidate_id not in seen
        seen.append(proposal.candidate_id)
        study.complete(proposal.trial_index, *score(proposal.mixture, proposal.rung))
    assert sorted(seen) == sorted(pool.ids)
    assert study.propose(1) == []


def test_pool_replicates_of_one_mixture_are_separate_candidates():
    """Two rows with the same mixture at the same rung (two seeds) are two candidates."""
    base = make_pool(n_mix=4)
    pool = CandidatePool(np.vstack([base.weights, base.weights[:1]]),
                         np.append(base.rung, base.rung[0]), (*base.ids, "replicate"))
    study = Study(make_config(mode="pool"), pool=pool)
    seen = set()
    while proposals := study.propose(1):
        seen.add(proposals[0].candidate_id)
        study.complete(proposals[0].trial_index, *score(proposals[0].mixture,
                                                        proposals[0].rung))
    assert seen == set(pool.ids)


def test_a_batch_is_distinct_and_avoids_pending_trials():
    study = Study(make_config(mode="pool", initial_trials=1), pool=make_pool())
    first = study.propose(1)[0]
    study.complete(first.trial_index, *score(first.mixture, first.rung))
    running = study.propose(1)[0]
    batch = study.propose(3)
    ids = [p.candidate_id for p in batch]
    assert len(set(ids)) == 3
    assert first.candidate_id not in ids and running.candidate_id not in ids


@pytest.mark.parametrize("mode", ["pool", "continuous"])
def test_save_kill_load_resumes_with_identical_next_proposal(tmp_path, mode):
    pool = make_pool() if mode == "pool" else None
    study = Study(make_config(mode=mode), pool=pool)
    run_function(study, score, trials=5)
    study.save(tmp_path / "s")
    expected = study.propose(1)[0]
    del study  # the process that saved is gone: only the files remain
    resumed = Study.load(tmp_path / "s")
    assert resumed.n_completed == 5 and len(resumed.runs) == 5
    got = resumed.propose(1)[0]
    assert got.trial_index == expected.trial_index
    assert got.rung == expected.rung and got.candidate_id == expected.candidate_id
    assert got.mixture == pytest.approx(expected.mixture, abs=1e-12)


def test_a_resumed_study_sees_the_values_and_costs_it_recorded_to_the_last_bit(tmp_path):
    """Ax saves its data at 10 decimal places; the model must not fit rounded values after
    a restart (the next proposal would differ), nor read a tiny value as 0."""
    values = iter([0.12345678901234567, 3.1e-12, 0.98765432109876543, 2.5e-11])

    def precise(mixture, rung):
        _, cost = score(mixture, rung)
        return {"score": next(values)}, cost * (1 + 1e-13)

    study = Study(make_config(mode="pool"), pool=make_pool())
    run_function(study, precise, trials=4)
    before = study.history().observations
    study.save(tmp_path / "s")
    after = Study.load(tmp_path / "s").history().observations
    assert np.array_equal(after.y, before.y) and np.array_equal(after.cost, before.cost)
    assert np.count_nonzero(after.y) == 4


def test_resume_after_recommend_and_a_plus_in_the_metric_name(tmp_path):
    """Saved after a fit on the final data (recommend), reloaded through Ax's JSON: the next
    proposal is the same, and a metric named like 'avg_id+ood' stays one metric."""
    config = make_config(mode="pool")
    config = replace(config, objective=config.objective.model_copy(update={"metric": "a+b"}))

    def plus(mixture, rung):
        metrics, cost = score(mixture, rung)
        return {"a+b": metrics["score"]}, cost

    study = Study(config, pool=make_pool())
    run_function(study, plus, trials=6)
    study.recommend()
    study.save(tmp_path / "s")
    expected = study.propose(1)[0]
    resumed = Study.load(tmp_path / "s")
    assert resumed.experiment.optimization_config.objective.metric_names == ["a_b"]
    assert resumed.experiment._properties["admire_objective"] == "a+b"
    got = resumed.propose(1)[0]
    assert got.candidate_id == expected.candidate_id
    resumed.complete(got.trial_index, *plus(got.mixture, got.rung))
    assert resumed.history().observations.n == 7


def test_abandoned_trial_writes_no_row_and_is_not_reproposed():
    study = Study(make_config(mode="pool", initial_trials=1), pool=make_pool())
    (p,) = study.propose(1)
    study.abandon(p.trial_index, "over budget")
    assert len(study.runs) == 0
    (q,) = study.propose(1)
    assert q.candidate_id != p.candidate_id


def test_nan_metric_is_refused_and_never_reaches_the_model():
    study = Study(make_config(initial_trials=1))
    run_function(study, score, trials=2)
    (proposal,) = study.propose(1)
    with pytest.raises(ValidationError, match="metric 'score' is nan; refused"):
        study.complete(proposal.trial_index, {"score": math.nan, "other": 1.0}, 1.0)
    assert study.history().observations.n == 2
    study.fail(proposal.trial_index, "NaN objective")
    assert study.runs["status"].tolist() == ["completed", "completed", "failed"]
    assert study.history().observations.n == 2
    assert np.isfinite(study.history().observations.y).all()


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


def test_minimize_recommends_the_lowest_prediction():
    study = Study(make_config(minimize=True, initial_trials=3))
    run_function(study, lambda m, r: ({"score": -score(m, r)[0]["score"], "other": 0.0},
                                      LADDER.rung(r).cost_estimate), trials=8)
    rec = study.recommend()
    history = study.history()
    observed = study.policy.observed_at_target(history)
    candidates = observed if len(observed) else study.policy.recommendation_set(history)
    mean, _ = study.policy.model(history).predict(candidates, 2)
    # Predictions are stored oriented for maximisation: the recommendation is the lowest score.
    assert rec.predicted == pytest.approx(-float(mean.max()))
    assert rec.predicted <= -float(mean.min()) + 1e-12


def test_load_reconciles_a_crash_between_the_two_writes(tmp_path):
    """Killed after runs.parquet got a trial's row but before experiment.json did: on load
    the trial is completed from the row, exactly once, and the two agree."""
    study = Study(make_config(mode="pool"), pool=make_pool())
    run_function(study, score, trials=3)
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
    # Ax's JSON store rounds to 10 decimals; the runs table keeps every digit.
    assert objective.to_dict() == pytest.approx(expected, rel=1e-9, abs=1e-10)


def screen_confirm_study(budget: float = 20.0, n_mix: int = 30) -> Study:
    config = make_config(mode="pool", policy="screen-confirm", budget=budget, initial_trials=1,
                         proxy_share=0.1)
    return Study(config, pool=make_pool(n_mix=n_mix))


def test_screen_confirm_screens_cheap_then_confirms_the_best_predicted_in_order():
    pool = make_pool(n_mix=30)
    # Mixtures 25-29 have no target row: the screen must prefer the 25 that can be confirmed.
    keep = ~((pool.rung == 2) & (np.arange(len(pool)) >= 75))
    pool = CandidatePool(pool.weights[keep], pool.rung[keep],
                         tuple(i for i, k in zip(pool.ids, keep, strict=True) if k))
    confirmable = {tuple(np.round(w, 6)) for w in pool.weights[pool.rung == 2]}
    config = make_config(mode="pool", policy="screen-confirm", budget=20.0, initial_trials=1,
                         proxy_share=0.1)
    study = Study(config, pool=pool)
    rungs = []
    for i in range(25):
        history = study.history()
        (p,) = study.propose(1)
        rungs.append(p.rung)
        w = np.array([p.mixture[d] for d in config.domain_names])
        if p.rung == "small":
            assert i == 0 or tuple(np.round(w, 6)) in confirmable
        else:
            # A confirmation has the best target-rung posterior mean of the open target rows.
            open_rows = pool.open_rows(history)
            open_target = open_rows[pool.rung[open_rows] == 2]
            model = study.policy.model(history)
            others, _ = model.predict(pool.weights[open_target], 2)
            chosen, _ = model.predict(w[None, :], 2)
            assert chosen[0] >= others.max() - 1e-12
            assert p.acquisition_per_cost is None  # a confirmation is not an acquisition pick
        study.complete(p.trial_index, *score(p.mixture, p.rung))
    n_screen = 20  # 2 units of proxy share at 0.1 units per small run
    assert rungs[:n_screen] == ["small"] * n_screen
    assert set(rungs[n_screen:]) == {"large"}


def test_kg_with_a_proxy_share_proposes_only_the_target_once_the_share_is_spent():
    study = Study(make_config(mode="pool", budget=5.0, proxy_share=0.1, initial_trials=6),
                  pool=make_pool(n_mix=20))
    for _ in range(6):  # six start points at the cheapest rung: 0.6 units > 0.1 * 5
        (p,) = study.propose(1)
        assert p.rung == "small"
        study.complete(p.trial_index, *score(p.mixture, p.rung))
    assert study.policy.target_only(study.history())
    for _ in range(4):
        (p,) = study.propose(1)
        assert p.rung == "large" and p.acquisition_per_cost is not None
        study.complete(p.trial_index, *score(p.mixture, p.rung))


# --- the Budget ---------------------------------------------------------------------------------

def test_the_cost_unit_is_fixed_at_creation_and_spend_never_moves():
    study = Study(make_config(budget=10.0, initial_trials=1))
    assert study.budget.unit == LADDER.target.cost_estimate == 10.0
    (p,) = study.propose(1)
    study.complete(p.trial_index, score(p.mixture, p.rung)[0], 1.0)
    assert study.spent() == pytest.approx(0.1)
    target = study.attach({"d0": 0.6, "d1": 0.2, "d2": 0.2}, "large")
    study.complete(target, score({"d0": 0.6, "d1": 0.2, "d2": 0.2}, "large")[0], 30.0)
    # A target run three times slower than estimated costs 3 units; earlier spend stays put.
    assert study.spent() == pytest.approx(3.1)
    assert study.history().budget.rung_cost[2] == pytest.approx(3.0)


def test_screen_confirm_without_a_budget_is_an_error_naming_the_field():
    with pytest.raises(ConfigError, match="study.budget"):
        Study(make_config(policy="screen-confirm", budget=None))


def test_resume_with_a_raised_budget_applies_to_the_stop_rule_and_the_policy(tmp_path):
    study = screen_confirm_study(budget=2.0)
    (p,) = study.propose(1)
    study.complete(p.trial_index, *score(p.mixture, p.rung))
    (p,) = study.propose(1)
    study.complete(p.trial_index, *score(p.mixture, p.rung))  # 0.2 units screened = 10% of 2
    assert not study.policy.screening(study.history())
    study.save(tmp_path / "s")
    resumed = Study.load(tmp_path / "s")
    assert resumed.budget.total == 2.0 and resumed.budget.unit == 10.0
    changed = resumed.reconfigure(replace(resumed.config, budget=6.0))
    assert changed == ["budget"]
    history = resumed.history()
    assert history.budget.total == 6.0 and resumed.budget.unit == 10.0
    assert resumed.policy.screening(history)  # 10% of 6 = 0.6 units: screening again
    (q,) = resumed.propose(1)
    assert q.rung == "small"
    resumed.save(tmp_path / "s")
    assert Study.load(tmp_path / "s").budget.total == 6.0


def test_resume_with_a_changed_policy_applies_it(tmp_path):
    study = screen_confirm_study()
    run_function(study, score, trials=3)
    study.save(tmp_path / "s")
    resumed = Study.load(tmp_path / "s")
    assert resumed.reconfigure(with_options(resumed.config, "kg", initial_trials=1)) == ["policy"]
    assert resumed.policy.name == "kg"
    resumed.save(tmp_path / "s")
    assert Study.load(tmp_path / "s").policy.name == "kg"


def test_resume_with_a_changed_domain_set_fails_naming_it():
    study = screen_confirm_study()
    other = replace(study.config, domains=(*study.config.domains[:2],
                                           DomainConfig(name="renamed")))
    with pytest.raises(ConfigError, match="^domain: differs from the saved study"):
        study.reconfigure(other)


def test_predict_withholds_intervals_until_the_target_rung_has_min_loo_runs():
    study = Study(make_config(policy="screen-confirm", budget=8.0))
    assert study.predict(np.array([0.2, 0.3, 0.5])) is None  # nothing observed yet
    seen_withheld = False
    while (target_runs := int((study.history().observations.rung == 2).sum())) < MIN_LOO:
        if target_runs:
            for answer in (study.predict(np.array([0.2, 0.3, 0.5])), study.recommend()):
                assert answer.lower90 is None and answer.run_lower90 is None
                assert answer.interval_note.startswith(
                    f"no 90% interval yet: the study has {target_runs} run(s)")
                assert not answer.reach.calibrated
            seen_withheld = True
        run_function(study, score, trials=1)
    assert seen_withheld
    shown = study.predict(np.array([0.2, 0.3, 0.5]))
    assert shown.reach.calibrated and shown.lower90 is not None
    assert shown.interval_note is None or shown.interval_note.startswith("extrapolation")


def test_predict_gives_intervals_at_any_mixture_with_the_hyperparameters_uncertainty():
    study = Study(make_config(policy="screen-confirm", budget=8.0))
    run_function(study, score, trials=14)
    assert (study.history().observations.rung == 2).sum() >= MIN_LOO
    rec = study.recommend()
    space = study.space
    at_rec = study.predict(rec.weights(space.domains))
    assert at_rec is not None and at_rec.basis == "prediction"
    for bound in (rec.lower90, rec.upper90, rec.run_lower90, rec.run_upper90):
        assert type(bound) is float  # not numpy's: what compares with it stays plain for JSON
    # the recommendation's mean, scale and intervals when asked at its mixture: both from the
    # model mixed over hyperparameter draws (a mixture picked for its high mean is where the
    # fit alone is overconfident)
    assert at_rec.predicted == pytest.approx(rec.predicted, rel=1e-9)
    assert at_rec.interval_scale == rec.interval_scale
    assert (at_rec.lower90, at_rec.upper90, at_rec.run_lower90, at_rec.run_upper90) == \
        pytest.approx((rec.lower90, rec.upper90, rec.run_lower90, rec.run_upper90), rel=1e-9)
    # the interval for the mean spans the draws' interval and, as the mixture ran at the
    # target, the same prediction made without its own runs (the winner's curse)
    surrogate = study.policy.model(study.history())
    target = len(study.ladder.rungs) - 1
    weights = rec.weights(space.domains)
    _, var = surrogate.predict_widened(weights[None], target)
    held_mean, held_var = surrogate.without_own_runs(weights, target)
    z90, scale = 1.6448536269514722, at_rec.interval_scale
    sign = -1.0 if study.policy.context.minimize else 1.0
    half, held_half = (z90 * scale * float(np.sqrt(v)) for v in (var[0], held_var))
    assert abs(sign * held_mean - at_rec.predicted) > 1e-6  # its own runs moved it
    assert at_rec.lower90 == pytest.approx(
        min(at_rec.predicted - half, sign * held_mean - held_half), rel=1e-6)
    assert at_rec.upper90 == pytest.approx(
        max(at_rec.predicted + half, sign * held_mean + held_half), rel=1e-6)
    assert at_rec.reach.nearest < 1e-6 and not at_rec.reach.extrapolates  # it ran there
    elsewhere = study.predict(np.array([0.05, 0.05, 0.9]))
    assert elsewhere.run_lower90 < elsewhere.lower90 < elsewhere.predicted < elsewhere.upper90
    assert elsewhere.upper90 < elsewhere.run_upper90  # a new run adds seed noise to the mean
    random_study = Study(with_options(make_config(), "random"))
    run_function(random_study, score, trials=3)
    assert random_study.predict(np.array([0.2, 0.3, 0.5])) is None  # no model: no prediction

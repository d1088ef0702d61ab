"""Olmix: the log-linear law it fits, the KL-penalised proposal, where the swarm spends, and the
order of its confirmations."""

from __future__ import annotations

import numpy as np
import pytest
from policy_studies import law_evaluator, mixing_law, pool, study, trial_rungs
from scipy.stats import spearmanr

from admire.bo.policies.loglinear import (
    fit_log_linear,
    kl_divergence,
    penalised_optimum,
    penalised_score,
)
from admire.bo.policies.registry import build_policy, parse_policy, policy_spec
from admire.errors import ConfigError
from admire.study import Study
from admire.study.loop import run_function


@pytest.mark.parametrize("k", [4, 8])
@pytest.mark.parametrize("minimize", [True, False])
def test_the_fit_recovers_a_log_linear_mixing_law(k, minimize):
    """Noiseless runs of L = c + k exp(t . w): held-out mixtures are ranked as the law ranks
    them, for a loss (y = -L) and for a score (y = 5 - L, negative 'losses' after the sign)."""
    law = mixing_law(k, seed=k)
    rng = np.random.default_rng(1)
    train, held_out = rng.dirichlet(np.ones(k), 6 * k), rng.dirichlet(np.ones(k), 300)
    y = -law(train) if minimize else 5.0 - law(train)
    fit = fit_log_linear(train, y)
    rho = spearmanr(fit.predict(held_out), -law(held_out)).statistic
    assert rho > 0.95
    assert fit.floor < -y.max()  # every fitted "loss" is above the floor: the log is defined


def test_a_flat_objective_or_too_few_runs_give_a_constant_law():
    w = np.random.default_rng(0).dirichlet(np.ones(3), 5)
    assert np.allclose(fit_log_linear(w, np.full(5, 0.7)).predict(w), 0.7)
    assert np.allclose(fit_log_linear(w[:2], np.array([1.0, 2.0])).predict(w), 1.5)


def test_kl_weight_pulls_the_optimum_toward_the_prior_monotonically():
    k = 6
    law = mixing_law(k, seed=3)
    w = np.random.default_rng(2).dirichlet(np.ones(k), 40)
    fit = fit_log_linear(w, -law(w))
    prior = np.array([0.3, 0.2, 0.2, 0.1, 0.1, 0.1])
    lo, hi = np.zeros(k), np.ones(k)
    kls = [float(kl_divergence(penalised_optimum(fit, prior, lam, lo, hi), prior))
           for lam in (0.0, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)]
    assert all(a >= b - 1e-6 for a, b in zip(kls, kls[1:], strict=False)), kls
    assert kls[0] > 1.0 and kls[-1] < 1e-3
    # Each optimum beats a cloud of random feasible mixtures on its own penalised score.
    cloud = np.random.default_rng(4).dirichlet(np.ones(k), 2000)
    for lam in (0.1, 1.0):
        best = penalised_optimum(fit, prior, lam, lo, hi)
        assert penalised_score(fit, best[None, :], prior, lam)[0] >= \
            penalised_score(fit, cloud, prior, lam).max() - 1e-9


def test_the_optimum_respects_domain_bounds():
    k = 4
    law = mixing_law(k, seed=5)
    w = np.random.default_rng(0).dirichlet(np.ones(k), 30)
    fit = fit_log_linear(w, -law(w))
    lo, hi = np.full(k, 0.1), np.full(k, 0.4)
    best = penalised_optimum(fit, np.full(k, 0.25), 0.0, lo, hi)
    assert best.sum() == pytest.approx(1.0) and (best >= lo - 1e-9).all() \
        and (best <= hi + 1e-9).all()


def swarm_then_confirm(share: float = 0.5, budget: float = 4.0, **options) -> Study:
    k = 4
    mixtures = np.random.default_rng(0).dirichlet(np.ones(k), 40)
    s = study("olmix", k=k, candidates=pool(mixtures, 3), budget=budget, swarm_share=share,
              **options)
    run_function(s, law_evaluator(mixing_law(k, seed=1)))
    return s


@pytest.mark.parametrize("share", [0.25, 0.5])
def test_the_swarm_spends_at_most_its_share_and_only_at_the_cheapest_rung(share):
    s = swarm_then_confirm(share)
    rungs = trial_rungs(s)
    swarm = rungs.count(0)
    # 0.1 units a swarm run: the share of 4 units buys exactly 4 * share / 0.1 of them.
    assert swarm == round(4 * share / 0.1)
    assert s.runs.query("rung == 'r0'")["cost"].sum() / 10 <= share * 4 + 1e-9
    assert set(rungs) == {0, 2} and rungs == sorted(rungs)  # all swarm runs come first
    assert s.spent() <= 4 + 1e-9 and rungs.count(2) == int(4 * (1 - share))


def test_confirmations_go_to_the_top_scored_target_mixtures_in_order():
    s = swarm_then_confirm(0.5, budget=6.0)  # 30 swarm runs, then 3 target runs
    runs = s.runs
    domains = [f"w:{d}" for d in s.space.domains]
    swarm, confirmed = runs[runs["rung"] == "r0"], runs[runs["rung"] == "r2"]
    # Recomputed from the runs table: the law on the swarm, the score on every target mixture.
    fit = fit_log_linear(swarm[domains].to_numpy(), -swarm["m:score"].to_numpy())
    prior = s.policy.prior()
    targets = s.pool.mixtures_at(2)
    order = np.argsort(-penalised_score(fit, targets, prior, 1.0), kind="stable")
    expected = targets[order[:len(confirmed)]]
    assert len(confirmed) == 3
    assert np.allclose(confirmed[domains].to_numpy(), expected)
    rec = s.recommend()  # the best score among the mixtures run at the target: the first one
    assert np.allclose(rec.weights(s.space.domains), expected[0])
    assert rec.basis == "model" and rec.lower90 is None and rec.rung == "r2"


def test_pool_proposals_move_toward_the_prior_as_kl_weight_grows():
    s = swarm_then_confirm(0.5, budget=2.0)  # the swarm is done: the next pick confirms
    history = s.history()
    kls = []
    for lam in (0.0, 0.1, 1.0, 10.0, 1000.0):
        policy = build_policy(policy_spec("olmix", {"kl_weight": lam}), s.policy.context)
        pick = policy.propose(history, 1)[0]
        assert pick.rung == 2
        kls.append(float(kl_divergence(pick.weights, policy.prior())))
    assert all(a >= b for a, b in zip(kls, kls[1:], strict=False)) and kls[0] > kls[-1]


def test_continuous_mode_swarms_inside_the_bounds_then_confirms_its_optimum():
    k = 5
    s = study("olmix", k=k, mode="continuous", budget=3.0, lower=0.05, upper=0.6)
    run_function(s, law_evaluator(mixing_law(k, seed=2)))
    rungs = trial_rungs(s)
    assert rungs == [0] * 15 + [2] * 1 and s.spent() <= 3.0 + 1e-9
    weights = s.runs[[f"w:{d}" for d in s.space.domains]].to_numpy()
    assert (weights >= 0.05 - 1e-9).all() and (weights <= 0.6 + 1e-9).all()
    assert np.allclose(weights.sum(axis=1), 1.0)
    assert np.allclose(weights[-1], s.policy.optimum(s.history()), atol=1e-6)
    # More confirmations walk down one ranking: distinct mixtures, never a repeat.
    picks = s.propose(5)
    assert len({tuple(np.round(list(p.mixture.values()), 6)) for p in picks}) == 5
    assert {p.rung for p in picks} == {"r2"}


def test_one_rung_ladder_swarms_and_confirms_at_the_only_rung():
    mixtures = np.random.default_rng(0).dirichlet(np.ones(3), 20)
    s = study("olmix", candidates=pool(mixtures, 1), costs=(1.0,), budget=12.0)
    reason = run_function(s, law_evaluator(mixing_law(3)))
    assert reason.startswith("budget reached")
    assert s.runs["run_id"].is_unique and len(s.runs) == 12 and set(s.runs["rung"]) == {"r0"}
    # The first confirmation is the best score among the rows left after the 6-run swarm.
    domains = [f"w:{d}" for d in s.space.domains]
    swarm = s.runs.iloc[:6]
    fit = fit_log_linear(swarm[domains].to_numpy(), -swarm["m:score"].to_numpy())
    ran = {tuple(np.round(w, 6)) for w in swarm[domains].to_numpy()}
    left = np.array([w for w in mixtures if tuple(np.round(w, 6)) not in ran])
    best = left[np.argmax(penalised_score(fit, left, s.policy.prior(), 1.0))]
    assert np.allclose(s.runs.iloc[6][domains].to_numpy(dtype=float), best)
    assert s.recommend().rung == "r0"


def test_a_batch_never_repeats_a_candidate_and_shrinks_when_they_run_out():
    mixtures = np.random.default_rng(0).dirichlet(np.ones(3), 6)
    s = study("olmix", candidates=pool(mixtures, [[0, 2]] * 6), budget=50.0)
    first = s.propose(4)
    assert [p.rung for p in first] == ["r0"] * 4
    rest = s.propose(20)  # 2 cheapest rows left, then the 6 target rows
    ids = [p.candidate_id for p in first + rest]
    assert len(rest) == 8 and len(set(ids)) == 12


def test_many_domains_and_five_rungs():
    k = 60
    mixtures = np.random.default_rng(0).dirichlet(np.ones(k), 30)
    costs = (1.0, 2.0, 4.0, 8.0, 16.0)
    s = study("olmix", k=k, candidates=pool(mixtures, 5), costs=costs, budget=3.0)
    run_function(s, law_evaluator(mixing_law(k), costs))
    rungs = trial_rungs(s)
    assert set(rungs) == {0, 4} and rungs.count(0) == 24 and s.spent() <= 3.0 + 1e-9
    assert s.recommend().rung == "r4"


@pytest.mark.parametrize("mode", ["pool", "continuous"])
@pytest.mark.parametrize("trials", [5, 22])  # mid-swarm, and among the confirmations
def test_a_reloaded_study_makes_the_same_next_proposal(tmp_path, mode, trials):
    k = 4
    candidates = pool(np.random.default_rng(0).dirichlet(np.ones(k), 40), 3) \
        if mode == "pool" else None
    s = study("olmix", k=k, mode=mode, candidates=candidates, budget=4.0)
    run_function(s, law_evaluator(mixing_law(k)), trials=trials)
    s.save(tmp_path / "s")
    expected = s.propose(2)
    resumed = Study.load(tmp_path / "s")
    got = resumed.propose(2)
    assert [p.candidate_id for p in got] == [p.candidate_id for p in expected]
    assert [p.rung for p in got] == [p.rung for p in expected]
    # Ax's JSON keeps metric values to 10 decimals, so a continuous optimum moves by ~1e-11.
    tol = 1e-12 if mode == "pool" else 1e-8
    for a, b in zip(got, expected, strict=True):
        assert a.mixture == pytest.approx(b.mixture, abs=tol)


def test_options_are_validated():
    assert parse_policy("olmix:kl_weight=2,swarm_share=0.3,prior=uniform").options.kl_weight \
        == 2.0
    for bad in ("olmix:swarm_share=1.5", "olmix:kl_weight=-1", "olmix:prior=tokens"):
        with pytest.raises(ConfigError):
            parse_policy(bad)
    with pytest.raises(ConfigError, match="study.budget"):
        study("olmix", candidates=pool(np.eye(3), 3), budget=None)

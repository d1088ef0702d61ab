"""Hyperband: brackets of successive halving, rebuilt from the history on every call."""

from __future__ import annotations

import numpy as np
import pytest
from policy_studies import law_evaluator, mixing_law, pool, study, trial_rungs

from admire.bo.policies.hyperband import Hyperband
from admire.bo.policies.registry import parse_policy
from admire.errors import ConfigError
from admire.study import Study
from admire.study.loop import run_function

DOMAINS = ["w:d0", "w:d1", "w:d2"]


def values_at(s: Study, rung: str) -> dict[tuple, float]:
    """Mixture (rounded) -> value at ``rung``, in the order the runs finished."""
    at = s.runs[s.runs["rung"] == rung]
    return {tuple(np.round(w, 6)): v for w, v in zip(at[DOMAINS].to_numpy(dtype=float),
                                                     at["m:score"], strict=True)}


def top(values: dict[tuple, float], k: int, among: set[tuple] | None = None) -> set[tuple]:
    """The k lowest losses (the study minimises), optionally among some mixtures."""
    items = [m for m in values if among is None or m in among]
    return set(sorted(items, key=lambda m: values[m])[:k])


def first_bracket(candidates, evaluate, trials: int = 13) -> Study:
    s = study("hyperband", candidates=candidates, budget=20.0)
    run_function(s, evaluate, trials=trials)
    return s


def test_promote_keeps_the_top_k_finished_and_promotable_members_ties_to_the_earlier():
    members = [10, 11, 12, 13, 14, 15]
    values = [0.5, 0.9, None, 0.9, 0.7, 0.9]
    promotable = [True, True, True, True, True, False]
    assert Hyperband.promote(members, values, 2, promotable) == [11, 13]
    assert Hyperband.promote(members, values, 4, promotable) == [11, 13, 14, 10]
    assert Hyperband.promote(members, [None] * 6, 2, promotable) == []


def test_the_first_bracket_promotes_exactly_the_top_third_at_each_rung():
    """Costs 0.1 / 0.4 / 1: the bracket budget is 9 * 0.1 + 3 * 0.4 + 1 = 3.1, so 9 mixtures
    start at the cheapest rung, 3 go on and 1 reaches the target."""
    mixtures = np.random.default_rng(0).dirichlet(np.ones(3), 30)
    s = first_bracket(pool(mixtures, 3), law_evaluator(mixing_law(3)))
    assert trial_rungs(s) == [0] * 9 + [1] * 3 + [2]
    r0, r1, r2 = values_at(s, "r0"), values_at(s, "r1"), values_at(s, "r2")
    assert set(r1) == top(r0, 3)
    assert set(r2) == top(r1, 1)


def test_ties_are_broken_by_the_bracket_order():
    mixtures = np.random.default_rng(1).dirichlet(np.ones(3), 30)
    s = first_bracket(pool(mixtures, 3), lambda mixture, rung: (
        {"score": 1.0}, {"r0": 1.0, "r1": 4.0, "r2": 10.0}[rung]))
    started = list(values_at(s, "r0"))  # the order the bracket ran them: its order
    assert list(values_at(s, "r1")) == started[:3]
    assert list(values_at(s, "r2")) == started[:1]


def test_a_mixture_without_a_row_at_the_next_rung_is_skipped_for_the_next_best():
    """6 mixtures have every rung, 6 skip the middle one and have the best cheap values: the
    bracket takes the 6 complete ones and 3 others, and promotes the best complete ones."""
    mixtures = np.random.default_rng(2).dirichlet(np.ones(3), 12)
    rungs = [[0, 1, 2]] * 6 + [[0, 2]] * 6
    gaps = {tuple(np.round(w, 6)) for w in mixtures[6:]}

    def evaluate(mixture, rung):
        key = tuple(np.round(list(mixture.values()), 6))
        value = (0.0 if key in gaps else 1.0) + float(mixture["d0"])
        return {"score": value}, {"r0": 1.0, "r1": 4.0, "r2": 10.0}[rung]

    s = first_bracket(pool(mixtures, rungs), evaluate)
    r0, r1 = values_at(s, "r0"), values_at(s, "r1")
    assert len(r0) == 9 and len(set(r0) & gaps) == 3
    assert top(r0, 3) <= gaps  # the three best cheap runs cannot go on ...
    assert set(r1) == top(r0, 3, among=set(r0) - gaps)  # ... so the next best do
    assert not set(r1) & gaps


def test_brackets_cycle_their_start_rung_and_stay_within_the_budget():
    mixtures = np.random.default_rng(3).dirichlet(np.ones(3), 60)
    s = study("hyperband", candidates=pool(mixtures, 3), budget=9.0)
    reason = run_function(s, law_evaluator(mixing_law(3)))
    # 9 -> 3 -> 1 from the cheapest rung (3.1), 5 -> 1 from the middle one (3.0), then what is
    # left (2.9) buys 2 target runs.
    assert trial_rungs(s) == [0] * 9 + [1] * 3 + [2] + [1] * 5 + [2] + [2] * 2
    assert s.spent() <= 9.0 + 1e-9
    assert reason == "nothing left to propose"


def test_a_batch_proposes_a_whole_promotion_set_and_reserves_its_cost():
    mixtures = np.random.default_rng(4).dirichlet(np.ones(3), 30)
    s = study("hyperband", candidates=pool(mixtures, 3), budget=5.0)
    start = s.propose(9)
    assert [p.rung for p in start] == ["r0"] * 9
    assert len({p.candidate_id for p in start}) == 9
    evaluate = law_evaluator(mixing_law(3))
    for p in start:
        metrics, cost = evaluate(p.mixture, p.rung)
        s.complete(p.trial_index, metrics, cost)
    promoted = s.propose(3)
    assert [p.rung for p in promoted] == ["r1"] * 3
    r0 = {p.candidate_id: evaluate(p.mixture, "r0")[0]["score"] for p in start}
    best = sorted(r0, key=r0.get)[:3]
    assert [p.candidate_id.split("-")[0] for p in promoted] == [c.split("-")[0] for c in best]
    # While those run, the next bracket starts with what the budget has left after the first
    # bracket's target run is reserved: 5 - 0.9 - 1.2 - 1 = 1.9 buys 2 -> 1 from the middle.
    more = s.propose(10)
    assert [p.rung for p in more] == ["r1"] * 2


def test_continuous_mode_halves_sobol_mixtures():
    s = study("hyperband", k=4, mode="continuous", budget=4.0)
    run_function(s, law_evaluator(mixing_law(4)), trials=13)
    assert trial_rungs(s) == [0] * 9 + [1] * 3 + [2]
    domains = [f"w:d{i}" for i in range(4)]
    runs = s.runs
    r0 = runs[runs["rung"] == "r0"].sort_values("m:score")
    assert np.allclose(runs[runs["rung"] == "r1"][domains].to_numpy(dtype=float),
                       r0[domains].to_numpy(dtype=float)[:3])


def test_one_rung_ladder_is_random_search_without_repeats():
    mixtures = np.random.default_rng(5).dirichlet(np.ones(3), 10)
    s = study("hyperband", candidates=pool(mixtures, 1), costs=(1.0,), budget=20.0)
    assert run_function(s, law_evaluator(mixing_law(3))) == "nothing left to propose"
    assert len(s.runs) == 10 and s.runs["run_id"].is_unique
    rec = s.recommend()
    assert rec.basis == "observed" and rec.predicted == pytest.approx(s.runs["m:score"].min())


def test_many_domains_five_rungs_and_no_budget():
    k = 50
    mixtures = np.random.default_rng(6).dirichlet(np.ones(k), 40)
    costs = (1.0, 3.0, 9.0, 27.0, 81.0)
    s = study("hyperband", k=k, candidates=pool(mixtures, 5), costs=costs, budget=None)
    run_function(s, law_evaluator(mixing_law(k), costs), trials=60)
    rungs = trial_rungs(s)
    # eta**4 = 81 starts would be the first bracket: the pool's 40 mixtures are all it gets.
    assert rungs[:40] == [0] * 40 and rungs[40:54] == [1] * 13 + [2] * 1
    assert s.runs["run_id"].is_unique


def test_the_recommendation_is_the_best_run_at_the_highest_rung_reached():
    mixtures = np.random.default_rng(7).dirichlet(np.ones(3), 30)
    s = study("hyperband", candidates=pool(mixtures, 3), budget=20.0)
    evaluate = law_evaluator(mixing_law(3))
    run_function(s, evaluate, trials=10)  # 9 cheap runs, one at the middle rung
    rec = s.recommend()
    assert rec.basis == "observed" and rec.predicted == pytest.approx(
        min(values_at(s, "r1").values()))
    run_function(s, evaluate, trials=13)
    assert s.recommend().predicted == pytest.approx(min(values_at(s, "r2").values()))


def test_the_replay_dataset_runs_within_the_budget(admire_table):
    from admire.replay.problem import ReplayProblem
    from admire.replay.runner import replay_one

    problem = ReplayProblem.from_table(admire_table, "avg_id+ood")
    for name in ("olmix", "hyperband"):
        result = replay_one(problem, parse_policy(name), 1, budget=3.0)
        assert result.curve and result.curve[-1][0] <= 3.0 + 1e-9
        assert result.picks_per_rung[0] > 0 and min(r for _, r in result.curve) >= 0


@pytest.mark.parametrize("mode", ["pool", "continuous"])
@pytest.mark.parametrize("trials", [4, 11, 16])  # in each stage of the first bracket, and after
def test_a_reloaded_study_makes_the_same_next_proposal(tmp_path, mode, trials):
    candidates = pool(np.random.default_rng(8).dirichlet(np.ones(3), 30), 3) \
        if mode == "pool" else None
    s = study("hyperband", mode=mode, candidates=candidates, budget=10.0)
    run_function(s, law_evaluator(mixing_law(3)), trials=trials)
    s.save(tmp_path / "s")
    expected = s.propose(3)
    resumed = Study.load(tmp_path / "s")
    got = resumed.propose(3)
    assert [(p.candidate_id, p.rung) for p in got] == [(p.candidate_id, p.rung) for p in expected]
    for a, b in zip(got, expected, strict=True):
        assert a.mixture == pytest.approx(b.mixture, abs=1e-12)


def test_options_are_validated():
    assert parse_policy("hyperband:eta=2").options.eta == 2
    for bad in ("hyperband:eta=1", "hyperband:eta=2.5", "hyperband:kernel=rbf"):
        with pytest.raises(ConfigError):
            parse_policy(bad)


def test_runs_made_outside_the_policy_are_skipped_and_shorten_one_bracket_at_most():
    """Mixtures run by someone else (attached) are never proposed again at their rung: at the
    head of the order they are passed over; inside the first bracket they end its start set
    there, and halving goes on from the members it has."""
    mixtures = np.random.default_rng(9).dirichlet(np.ones(3), 30)
    s = study("hyperband", candidates=pool(mixtures, 3), budget=20.0)
    mixtures, _, order = s.policy._pool_configs()  # pool mixtures by id, and their order
    evaluate = law_evaluator(mixing_law(3))
    foreign = {(int(order[0]), "r1"), (int(order[1]), "r2"), (int(order[5]), "r2")}
    for m, rung in sorted(foreign):
        index = s.attach(s.space.as_dict(mixtures[m]), rung)
        s.complete(index, *evaluate(s.space.as_dict(mixtures[m]), rung))
    run_function(s, evaluate, trials=11)
    own = s.runs.iloc[3:]
    # Members 2, 3, 4 of the order, then the next bracket from the middle rung (5 -> 1).
    assert [int(r[1:]) for r in own["rung"]] == [0, 0, 0, 1, 2] + [1] * 5 + [2]
    firsts = [tuple(np.round(w, 6)) for w in own[DOMAINS].to_numpy(dtype=float)[:3]]
    assert firsts == [tuple(np.round(mixtures[int(m)], 6)) for m in order[2:5]]
    ran = [(tuple(np.round(w, 6)), r) for w, r in zip(s.runs[DOMAINS].to_numpy(dtype=float),
                                                      s.runs["rung"], strict=True)]
    assert len(set(ran)) == len(ran)  # no (mixture, rung) twice


def test_a_budget_too_small_for_the_whole_ladder_starts_higher_up():
    """One configuration from the cheapest rung costs 0.1 + 0.4 + 1 = 1.5 > 1.45: the first
    bracket starts at the middle rung (1.4) instead of running nothing."""
    mixtures = np.random.default_rng(10).dirichlet(np.ones(3), 10)
    s = study("hyperband", candidates=pool(mixtures, 3), budget=1.45)
    run_function(s, law_evaluator(mixing_law(3)))
    assert trial_rungs(s) == [1, 2] and s.spent() <= 1.45

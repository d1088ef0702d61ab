"""Multi-objective replay: hypervolumes from BoTorch, the problem's truth and reference point,
and a tiny replay end to end whose regrets are bounded and (over evaluated points) monotone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from admire.bo.policies.registry import parse_policy
from admire.errors import ConfigError
from admire.replay.mo import MOReplayProblem, hypervolume, regret_at, replay_mo_one
from admire.schema.objectives import ConstraintConfig

OBJECTIVES = (("avg_id", False), ("avg_ood", False))


@pytest.fixture(scope="module")
def problem(admire_table):
    return MOReplayProblem.from_table(admire_table, OBJECTIVES)


def test_hypervolume_of_a_staircase():
    assert hypervolume(np.array([[1.0, 2.0], [2.0, 1.0]]), np.zeros(2)) == pytest.approx(3.0)
    assert hypervolume(np.array([[1.0, 2.0], [0.5, 0.5]]), np.zeros(2)) == pytest.approx(2.0)
    assert hypervolume(np.zeros((0, 2)), np.zeros(2)) == 0.0


def test_problem_truth_reference_point_and_best(problem, admire_table):
    target = admire_table[admire_table["rung"] == "Qwen2.5-7B"]
    assert len(problem.truth) == 76
    assert problem.ref_point == pytest.approx([target["m:avg_id"].min(),
                                               target["m:avg_ood"].min()])
    assert problem.best_hv > 0
    # Any subset covers at most the whole front's hypervolume.
    rng = np.random.default_rng(0)
    for _ in range(5):
        subset = rng.choice(76, size=10, replace=False)
        assert 0 <= problem.hv_of(subset) <= problem.best_hv + 1e-15


def test_constraints_drop_infeasible_points_from_the_hypervolume(admire_table, problem):
    threshold = float(np.quantile(problem.truth[:, 0], 0.9))
    constrained = MOReplayProblem.from_table(
        admire_table, OBJECTIVES, (ConstraintConfig(metric="avg_id", min=threshold),))
    infeasible = np.flatnonzero(constrained.truth[:, 0] < threshold)
    assert constrained.hv_of(infeasible) == 0.0
    assert constrained.best_hv < problem.best_hv


def test_unknown_metric_is_refused(admire_table):
    with pytest.raises(ConfigError, match="unknown metric 'avg_x'"):
        MOReplayProblem.from_table(admire_table, (("avg_id", False), ("avg_x", False)))


def test_random_replay_end_to_end(problem):
    a = replay_mo_one(problem, parse_policy("random"), 2, budget=4.0)
    b = replay_mo_one(problem, parse_policy("random"), 2, budget=4.0)
    assert a.curve == b.curve and len(a.curve) >= 3
    picked = [p for _, p, _, _ in a.curve]
    evaluated = [e for _, _, e, _ in a.curve]
    assert all(0 <= r <= problem.best_hv + 1e-15 for r in picked + evaluated)
    # Recommending among evaluated points: more evaluations never lose hypervolume.
    assert all(later <= earlier + 1e-15 for earlier, later
               in zip(evaluated, evaluated[1:], strict=False))
    # random recommends the observed Pareto set of its target runs: the same hypervolume.
    assert picked == pytest.approx(evaluated, abs=1e-15)
    assert regret_at(a.curve, 0.0) is None and regret_at(a.curve, 4.0) == picked[-1]


def test_single_fidelity_mobo_replays_within_budget(problem):
    result = replay_mo_one(problem, parse_policy("mobo:screen_share=0"), 0, budget=3.0)
    assert result.picks_per_rung[:2] == [0, 0] and result.picks_per_rung[2] >= 2
    assert result.curve[-1][0] <= 3.0 + 1e-9
    assert all(0 <= p <= problem.best_hv + 1e-15 for _, p, _, _ in result.curve)
    assert all(size >= 1 for *_, size in result.curve)
    assert result.final_pareto_size >= 1
    # Seeded: the same curve whatever torch's global generator did in between.
    torch.rand(10)
    again = replay_mo_one(problem, parse_policy("mobo:screen_share=0"), 0, budget=3.0)
    assert again.curve == result.curve

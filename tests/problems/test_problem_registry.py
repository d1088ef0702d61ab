"""The problem registry: objectives exist, directions and budgets are right, truths agree."""

from __future__ import annotations

import pandas as pd
import pytest

from admire.errors import ConfigError
from admire.problems import (
    ADMIRE_OBJECTIVES,
    PRESETS,
    admire_problems,
    default_budget,
    olmix_problem,
    synthetic_problems,
)
from admire.schema import runs


@pytest.fixture(scope="module")
def admire():
    return {p.objective: p for p in admire_problems()}


def test_admire_objectives_exist_and_are_maximised(admire):
    assert len(admire) == len(ADMIRE_OBJECTIVES)
    for column, problem in admire.items():
        assert column in problem.table.columns
        assert not problem.minimize
        assert problem.rungs == ("Qwen2.5-0.5B", "Qwen2.5-3B", "Qwen2.5-7B")
        assert problem.budget == 20.0
        assert problem.optimum is None and problem.truth is None


def test_admire_best_target_values_match_the_table(admire):
    headline = admire["m:avg_id+ood"]
    assert headline.best_target_value() == pytest.approx(0.593815, abs=5e-7)  # datasheet
    for column, problem in admire.items():
        target = problem.table[problem.table[runs.RUNG] == "Qwen2.5-7B"]
        assert problem.best_target_value() == pytest.approx(target[column].max())
    assert headline.target_cost == pytest.approx(537.47, abs=0.01)


def test_admire_single_tasks_have_another_best_mixture_than_the_average(admire):
    def best_run(column: str) -> str:
        target = admire[column].table[admire[column].table[runs.RUNG] == "Qwen2.5-7B"]
        return str(target.loc[target[column].idxmax(), runs.RUN_ID])

    headline = best_run("m:avg_id+ood")
    singles = [c for c in admire if not c.startswith("m:avg")]
    assert len(singles) >= 3
    assert all(best_run(c) != headline for c in singles)


def test_olmix_problem():
    problem = olmix_problem()
    assert problem.minimize and problem.objective == "m:mean_bpb"
    assert problem.rungs == ("30m-5xC",) and problem.budget == 30.0
    assert problem.best_target_value() == pytest.approx(problem.table["m:mean_bpb"].min())


def test_synthetic_problems_carry_their_truth():
    (problem,) = synthetic_problems(["k8-corr0.5"], seed=2)
    weights, value = problem.optimum
    target = problem.table[problem.table[runs.RUNG] == problem.target_rung]
    noiseless = problem.truth(target[runs.weight_columns(target)].to_numpy())
    assert noiseless.min() >= value
    assert problem.truth(weights) == pytest.approx(value)
    assert problem.minimize and problem.budget == 20.0 and problem.target_cost == pytest.approx(1)
    assert problem.name == "synthetic/k8-corr0.5/s2"


def test_presets_cover_the_space():
    specs = list(PRESETS.values())
    assert min(s.k for s in specs) == 3 and max(s.k for s in specs) == 100
    assert min(s.rank_corr for s in specs) == 0.3 and max(s.rank_corr for s in specs) == 0.95
    assert {s.n_rungs for s in specs} >= {2, 3, 4, 5}
    assert min(s.cost_ratio for s in specs) == 3 and max(s.cost_ratio for s in specs) == 1000
    assert {s.optimum for s in specs} == {"interior", "face"}
    assert max(s.rows_per_rung[0] for s in specs) >= 1000
    assert min(s.noise for s in specs) <= 0.05 and max(s.noise for s in specs) >= 0.5


def test_unknown_preset_is_named():
    with pytest.raises(ConfigError, match="k7-nope") as info:
        synthetic_problems(["k7-nope"])
    assert info.value.where == "names"


def test_budget_is_capped_by_the_target_runs():
    (problem,) = synthetic_problems(["k3-easy"])
    assert default_budget(problem.table, problem.rungs) == 20.0
    small = problem.table[problem.table[runs.RUNG] != problem.target_rung]
    target = problem.table[problem.table[runs.RUNG] == problem.target_rung].iloc[:30]
    assert default_budget(pd.concat([small, target]), problem.rungs) == 12.0

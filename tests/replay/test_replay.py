"""Replay: a Study with a recorded-runs evaluator, the protocol's bookkeeping, determinism."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import DATASET_PARQUET

from admire.bo.policies.registry import parse_policy
from admire.replay.problem import ReplayProblem
from admire.replay.runner import replay, replay_one
from admire.replay.summary import cost_to_best, cost_to_first_best, median, regret_at
from admire.schema import runs


def test_curve_metrics():
    curve = [(0.2, 0.01), (1.0, 0.0), (2.0, 0.003), (3.0, 0.0), (4.0, 0.0)]
    assert cost_to_best(curve) == 3.0
    assert cost_to_first_best(curve) == 1.0
    assert regret_at(curve, 2.5) == 0.003 and regret_at(curve, 0.1) is None
    assert cost_to_best(curve[:3]) is None
    assert median([1.0, None, 3.0]) == 3.0 and median([None, None, 1.0]) is None
    # within a tolerance, a near-tie counts as the best: from 1.0 on here, not 3.0
    assert cost_to_best(curve, tolerance=0.005) == 1.0
    assert cost_to_best(curve[:3], tolerance=0.005) == 1.0
    assert cost_to_best(curve, tolerance=0.001) == 3.0


@pytest.fixture(scope="module")
def problem(admire_table):
    return ReplayProblem.from_table(admire_table, "avg_id+ood")


def test_problem_matches_mixtures_across_rungs(problem):
    assert len(problem.target_weights) == 76
    assert problem.best_value == pytest.approx(0.593815, abs=5e-7)
    pool = problem.recorded.pool
    assert pool.has_row_at(np.arange(len(pool)), 2).sum() == 76 * 3
    assert problem.cost_unit == pytest.approx(
        problem.recorded.table.query("rung == 'Qwen2.5-7B'")["cost"].mean())


@pytest.mark.parametrize("name", ["random", "sfbo", "regmix", "mfbo"])
def test_each_policy_replays_deterministically_within_its_budget(problem, name):
    a = replay_one(problem, parse_policy(name), 3, budget=1.5)
    b = replay_one(problem, parse_policy(name), 3, budget=1.5)
    assert a.curve == b.curve and a.curve
    assert a.curve[-1][0] <= 1.5 + 1e-9
    assert a.stop_reason.startswith("budget reached")
    # Each point is the regret of a real target mixture: never negative, zero only at the best.
    regrets = [r for _, r in a.curve]
    assert min(regrets) >= 0 and max(regrets) <= problem.target_values.max() - \
        problem.target_values.min() + 1e-12
    assert sum(a.picks_per_rung) == len(a.curve)


def test_every_policy_starting_at_one_rung_starts_at_the_same_row(problem):
    """The first pick is the seed's draw among the rung's rows, whatever the policy."""
    first = {}
    for name in ("mfbo", "regmix", "random", "sfbo"):
        study = problem.study(parse_policy(name), seed=7, budget=5.0)
        first[name] = study.propose(1)[0].candidate_id
    assert first["mfbo"] == first["regmix"] and first["random"] == first["sfbo"]
    pool = problem.recorded.pool
    assert pool.rung[pool.row_of(first["mfbo"])] == 0
    assert pool.rung[pool.row_of(first["random"])] == 2


def small_table() -> pd.DataFrame:
    """A generic table: 4 domains, 4 rungs, minimised loss, a fixed cost per rung."""
    rng = np.random.default_rng(0)
    mixtures = rng.dirichlet(np.ones(4), size=15)
    rows = []
    for m, w in enumerate(mixtures):
        for r, (name, cost) in enumerate([("xs", 1), ("s", 2), ("m", 4), ("l", 8)]):
            if r == 3 and m >= 10:
                continue
            loss = 3 - 0.2 * r + float(np.sum((w - [0.4, 0.3, 0.2, 0.1]) ** 2)) \
                + rng.normal(0, 0.01)
            row = {"run_id": f"{m}-{name}", "study": "t", "rung": name, "fidelity": cost / 8,
                   "cost": float(cost), "m:loss": loss, "m:acc": -loss, "status": "completed",
                   "seed": 0, "started_at": None, "finished_at": None}
            row.update({f"w:d{j}": float(w[j]) for j in range(4)})
            rows.append(row)
    return runs.validate_runs(pd.DataFrame(rows))[0]


def test_any_table_replays_minimising(tmp_path):
    path = tmp_path / "t.parquet"
    runs.write_runs(small_table(), path)
    summary = replay(path, "loss", ["mfbo", "random"], [0, 1], budget=3.0, minimize=True,
                     workers=1)
    assert summary["direction"] == "minimize"
    assert summary["best_value"] == pytest.approx(
        small_table().query("rung == 'l'")["m:loss"].min())
    assert set(summary["methods"]) == {"mfbo", "random"}
    picks = summary["methods"]["mfbo"]["picks_per_rung"][0]
    assert len(picks) == 4 and picks[0] >= 1


def test_cli_replay_writes_summary_and_plot(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "admire", "replay", str(DATASET_PARQUET),
                           "--objective", "m:avg_id+ood", "--methods", "mfbo,sfbo,random,regmix",
                           "--seeds", "2", "--budget", "1.2", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["objective"] == "avg_id+ood" and summary["direction"] == "maximize"
    assert summary["best_value"] == pytest.approx(0.593815, abs=5e-7)
    for name in ("mfbo", "sfbo", "random", "regmix"):
        method = summary["methods"][name]
        assert len(method["cost_to_best"]) == 2 and len(method["curves"]) == 2
        assert set(method["regret_at"]) == {"1", "1.2"}
    assert (out / "regret_vs_cost.png").stat().st_size > 10_000
    assert "mfbo" in done.stdout


@pytest.mark.parametrize("spec", ["mfbo:policy=typo", "mfbo:kernel=foo", "kg:colour=red"])
def test_cli_replay_names_a_bad_policy_or_option_and_exits_2(tmp_path, spec):
    done = subprocess.run([sys.executable, "-m", "admire", "replay", str(DATASET_PARQUET),
                           "--objective", "avg_id+ood", "--methods", spec, "--seeds", "1",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    bad = spec.split("=")[-1] if "typo" in spec or "foo" in spec else "colour"
    assert f"'{bad}'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "summary.json").exists()


def test_replay_does_not_depend_on_process_history(problem):
    """A worker that ran other seeds first (torch's global generator moved on) must give the
    same curve as a fresh one."""
    import torch

    first = replay_one(problem, parse_policy("mfbo"), 5, budget=2.5)
    torch.manual_seed(12345)
    torch.rand(1000)
    second = replay_one(problem, parse_policy("mfbo"), 5, budget=2.5)
    assert first.curve == second.curve

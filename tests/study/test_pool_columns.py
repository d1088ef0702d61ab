"""A completed trial's pool covariates land in the runs table and survive save/load."""

from __future__ import annotations

import numpy as np
from helpers import make_config, score

from admire.evaluators.base import Outcome, Proposal
from admire.proxy.pool_state import pool_covariates
from admire.study import Study
from admire.study.loop import run


def test_covariates_of_a_trial_are_runs_table_columns_after_a_save(tmp_path):
    study = Study(make_config(initial_trials=2))
    pool = {"d0": 1000, "d1": 200, "d2": 50}
    first, second = study.propose(2)
    metrics, cost = score(first.mixture, first.rung)
    cov = pool_covariates(first.mixture, pool, 4096)
    study.complete(first.trial_index, metrics, cost, covariates=cov)
    metrics, cost = score(second.mixture, second.rung)
    study.complete(second.trial_index, metrics, cost)  # a trial that recorded no pool
    study.save(tmp_path / "s")
    table = Study.load(tmp_path / "s").runs
    assert table.loc[0, "pool:epochs:d1"] == cov["pool:epochs:d1"]
    assert table.loc[0, "pool:drawn:d2"] == cov["pool:drawn:d2"]
    assert table["pool:tokens:d0"].isna().tolist() == [False, True]


class PoolEvaluator:
    """Runs trials in order and returns each one's covariates, like the Ray worker's reply."""

    def __init__(self, pool: dict[str, float]) -> None:
        self.pool = pool
        self.queue: list[Proposal] = []

    @property
    def free(self) -> int:
        return 1

    def submit(self, proposal: Proposal) -> None:
        self.queue.append(proposal)

    def poll(self, timeout: float | None) -> list[Outcome]:
        out = []
        for p in self.queue:
            metrics, cost = score(p.mixture, p.rung)
            out.append(Outcome(p.trial_index, metrics, cost,
                               covariates=pool_covariates(p.mixture, self.pool, 1000)))
        self.queue = []
        return out

    def expected_cost(self, proposal: Proposal) -> float | None:
        return None


def test_the_loop_carries_an_outcomes_covariates_into_the_runs_table():
    study = Study(make_config(initial_trials=3))
    pool = {"d0": 100.0, "d1": 1000.0, "d2": 10.0}
    run(study, PoolEvaluator(pool), trials=3)
    table = study.runs
    assert len(table) == 3
    assert np.allclose(table["pool:epochs:d2"], table["pool:drawn:d2"] / 10.0)
    assert np.allclose(table["pool:drawn:d0"], np.round(table["w:d0"] * 1000), atol=1)

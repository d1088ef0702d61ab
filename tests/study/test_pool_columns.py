"""A completed trial's pool covariates land in the runs table and survive save/load."""

from __future__ import annotations

from helpers import make_config, score

from admire.proxy.pool_state import pool_covariates
from admire.study import Study


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

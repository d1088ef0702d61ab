"""Concurrency: many fast evaluators finishing at the same time lose nothing."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
from helpers import make_config, score

from admire.evaluators.callable import run_study
from admire.study import Study


def test_parallel_completions_lose_nothing():
    lock = threading.Lock()
    calls: list[tuple] = []
    rng = random.Random(0)
    delays = [rng.uniform(0.0, 0.02) for _ in range(1000)]

    def fast(mixture, rung):
        with lock:
            calls.append((*np.round(list(mixture.values()), 12), rung))
            delay = delays[len(calls) % len(delays)]
        time.sleep(delay)  # finish in a shuffled order, several at the same moment
        return score(mixture, rung)

    n = 40
    study = run_study(Study(make_config(k=4, initial_trials=8)), fast, max_trials=n,
                      max_parallel=8)
    assert len(calls) == n
    assert study.n_completed == n and len(study.runs) == n
    assert study.runs["run_id"].is_unique
    # Every recorded value is exactly the known function of its recorded mixture and rung.
    for _, row in study.runs.iterrows():
        mixture = {d: row[f"w:{d}"] for d in study.space.domains}
        expected, cost = score(mixture, row["rung"])
        assert row["m:score"] == expected["score"] and row["cost"] == cost
    # The Ax experiment holds the same objective values as the runs table, trial by trial.
    data = study.experiment.lookup_data().df
    objective = data[data["metric_name"] == "score"].set_index("trial_index")["mean"]
    by_trial = {int(r.split("-")[-1]): v for r, v in zip(study.runs["run_id"],
                                                         study.runs["m:score"], strict=True)}
    assert objective.to_dict() == by_trial
    # No (mixture, rung) was proposed twice, even with eight in flight (pending-aware).
    assert len(set(calls)) == n

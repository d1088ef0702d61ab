"""Replay = a Study with a recorded-runs evaluator and a policy, run by the one loop.

    summary = replay("runs.parquet", "avg_id+ood", ["mfbo", "sfbo"], range(10), budget=20)

Every policy sees the same seeds; seeds run in worker processes. After every recorded outcome
the study recommends, and the regret of that recommendation against the cumulative cost is the
seed's curve.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from admire.bo.policies.base import PolicySpec
from admire.bo.policies.registry import parse_policy
from admire.io import atomic_write_json
from admire.replay.problem import ReplayProblem
from admire.replay.summary import (
    REGRET_POINTS,
    cost_to_best,
    cost_to_first_best,
    regret_at,
)
from admire.schema import runs
from admire.study.loop import Event, run
from admire.study.study import Study


@dataclass
class SeedResult:
    method: str
    seed: int
    curve: list[tuple[float, float]] = field(default_factory=list)  # (cost, regret)
    picks_per_rung: list[int] = field(default_factory=list)
    seconds: float = 0.0
    stop_reason: str = ""


def replay_one(problem: ReplayProblem, spec: PolicySpec, seed: int,
               budget: float) -> SeedResult:
    """Run one policy for one seed until the budget or the pool runs out."""
    start = time.perf_counter()
    study = problem.study(spec, seed=seed, budget=budget)
    result = SeedResult(spec.display, seed)
    domains = study.space.domains

    def score(event: Event) -> None:
        if event.kind == "recorded" and event.failure is None:
            rec = study.recommend(interval=False)
            regret = problem.regret(problem.target_index(rec.weights(domains)))
            result.curve.append((study.spent(), regret))

    result.stop_reason = run(study, problem.evaluator(), on_event=score)
    result.picks_per_rung = picks_per_rung(study)
    result.seconds = time.perf_counter() - start
    return result


def picks_per_rung(study: Study) -> list[int]:
    """Runs the study bought at each rung, cheapest first."""
    rungs = study.runs[runs.RUNG].map({r: i for i, r in enumerate(study.ladder.names)})
    return np.bincount(rungs.to_numpy(dtype=int), minlength=len(study.ladder.rungs)).tolist()


def summarize(results: Sequence[SeedResult], problem: ReplayProblem, budget: float,
              objective: str) -> dict[str, Any]:
    methods: dict[str, Any] = {}
    for name in dict.fromkeys(r.method for r in results):
        mine = sorted((r for r in results if r.method == name), key=lambda r: r.seed)
        methods[name] = {
            "seeds": [r.seed for r in mine],
            "cost_to_best": [cost_to_best(r.curve) for r in mine],
            "cost_to_first_best": [cost_to_first_best(r.curve) for r in mine],
            "regret_at": {f"{u:g}": [regret_at(r.curve, u) for r in mine] for u in
                          dict.fromkeys((*REGRET_POINTS, budget)) if u <= budget},
            "picks_per_rung": [r.picks_per_rung for r in mine],
            "seconds": [round(r.seconds, 2) for r in mine],
            "curves": [[[round(c, 6), g] for c, g in r.curve] for r in mine],
        }
    return {"objective": objective, "direction": "minimize" if problem.minimize else "maximize",
            "best_value": problem.best_value, "cost_unit": problem.cost_unit, "budget": budget,
            "rungs": problem.recorded.ladder.names, "methods": methods}


# --- many seeds, in worker processes -----------------------------------------------------------

_PROBLEMS: dict[tuple, ReplayProblem] = {}


def load_problem(table_path: str, objective: str, minimize: bool) -> ReplayProblem:
    """The replay problem of a table (cached per process: workers build it once)."""
    key = (table_path, objective, minimize)
    if key not in _PROBLEMS:
        _PROBLEMS[key] = ReplayProblem.from_table(runs.read_runs(table_path), objective,
                                                  minimize)
    return _PROBLEMS[key]


def _run_task(args: tuple) -> SeedResult:
    table_path, objective, minimize, spec_text, seed, budget = args
    import torch

    torch.set_num_threads(1)
    problem = load_problem(table_path, objective, minimize)
    return replay_one(problem, parse_policy(spec_text), seed, budget)


def replay(table_path: str | Path, objective: str, specs: Sequence[str], seeds: Sequence[int],
           budget: float, *, minimize: bool = False, workers: int | None = None,
           on_result: Callable[[SeedResult], None] | None = None) -> dict[str, Any]:
    """Run every policy spec on every seed and summarise."""
    for text in specs:
        parse_policy(text)  # unknown policies or options fail before any work
    problem = load_problem(str(table_path), objective, minimize)
    tasks = [(str(table_path), objective, minimize, s, seed, budget)
             for s in specs for seed in seeds]
    workers = workers or min(len(tasks), max(1, os.cpu_count() or 1))
    results: list[SeedResult] = []
    if workers == 1:
        for task in tasks:
            results.append(_run_task(task))
            if on_result:
                on_result(results[-1])
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_run_task, t) for t in tasks]
            for future in as_completed(futures):
                results.append(future.result())
                if on_result:
                    on_result(results[-1])
    return summarize(results, problem, budget, problem.recorded.metric)


def write_summary(summary: dict[str, Any], out: str | Path) -> Path:
    return atomic_write_json(Path(out) / "summary.json", summary)

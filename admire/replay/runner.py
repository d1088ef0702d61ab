"""Replay: compare methods offline on a runs table, on regret against cost, over many seeds.

Protocol (DESIGN.md): candidates are the table's completed rows; a pick costs its row's cost and
reveals its metrics; a row is picked at most once. After every pick a method recommends one
mixture among those with a target-rung row, scored by simple regret = best target value - true
target value of the recommended mixture (mixtures are matched across rungs by their weights).
Costs are in target-run units (mean target-rung cost); a method stops at the first pick that
would exceed the budget. The initial design is one random cheapest-rung pick, drawn from the
seed, unless a method brings its own. Every method sees the same seeds.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from admire.evaluators.recorded import RecordedRuns
from admire.schema import runs

REGRET_POINTS = (1, 3, 5, 10)
BEST_TOL = 1e-12


@dataclass(frozen=True)
class ReplayProblem:
    """A runs table prepared for replay: pool, truth at the target, costs in target units."""

    recorded: RecordedRuns
    target_weights: np.ndarray  # (M, K) mixtures with a target-rung row
    target_values: np.ndarray  # (M,) their true target value, in the metric's own direction
    row_cost: np.ndarray  # (N,) cost of each pool row in target units
    row_value: np.ndarray  # (N,) objective of each row, oriented for maximisation
    row_target: np.ndarray  # (N,) index of the row's mixture among the targets, or -1
    cost_unit: float

    @classmethod
    def from_table(cls, table: pd.DataFrame, objective: str, minimize: bool = False
                   ) -> ReplayProblem:
        recorded = RecordedRuns.from_table(table, objective, minimize)
        weights, values = recorded.target_truth()
        unit = recorded.ladder.target.cost_estimate
        done = recorded.table
        sign = -1.0 if minimize else 1.0
        index = {key: i for i, key in enumerate(runs.mixture_keys(
            pd.DataFrame(weights, columns=runs.weight_columns(done))))}
        row_target = np.array([index.get(k, -1) for k in runs.mixture_keys(done)], dtype=int)
        return cls(recorded, weights, values, done[runs.COST].to_numpy(dtype=float) / unit,
                   sign * done[recorded.objective].to_numpy(dtype=float), row_target, unit)

    @property
    def minimize(self) -> bool:
        return self.recorded.minimize

    @property
    def oriented_targets(self) -> np.ndarray:
        return -self.target_values if self.minimize else self.target_values

    @property
    def best_value(self) -> float:
        """Best true target value, in the metric's own direction."""
        return float(self.target_values.min() if self.minimize else self.target_values.max())

    def regret(self, target_index: int) -> float:
        oriented = self.oriented_targets
        return float(oriented.max() - oriented[target_index])

    def rows_at(self, rung: int) -> np.ndarray:
        return np.flatnonzero(self.recorded.pool.rung == rung)

    def target_index(self, weights: np.ndarray) -> int:
        """Index of a recommended mixture among the target mixtures (nearest, exact in replay)."""
        distance = np.abs(self.target_weights - np.asarray(weights)[None, :]).sum(axis=1)
        return int(np.argmin(distance))


class ReplayMethod(ABC):
    """A method under replay: it picks pool rows and recommends a target mixture."""

    name = "method"

    def __init__(self, problem: ReplayProblem, seed: int) -> None:
        self.problem, self.seed = problem, seed
        self.picked: list[int] = []

    def initial_picks(self, rng: np.random.Generator) -> list[int]:
        """Default initial design: one random cheapest-rung row."""
        return [int(rng.choice(self.problem.rows_at(0)))]

    @abstractmethod
    def next_pick(self) -> int | None:
        """The next pool row to run, or None when the method has nothing left to pick."""

    def observe(self, row: int) -> None:
        """Record that ``row`` was run; its value is ``problem.row_value[row]``."""
        self.picked.append(row)

    @abstractmethod
    def recommend(self) -> int:
        """Index of the recommended mixture among ``problem.target_weights``."""

    def open_rows(self, rung: int | None = None) -> np.ndarray:
        rows = (np.arange(len(self.problem.row_cost)) if rung is None
                else self.problem.rows_at(rung))
        return np.setdiff1d(rows, np.asarray(self.picked, dtype=int))


@dataclass
class SeedResult:
    method: str
    seed: int
    curve: list[tuple[float, float]] = field(default_factory=list)  # (cost, regret)
    picks_per_rung: list[int] = field(default_factory=list)
    seconds: float = 0.0


def run_one(problem: ReplayProblem, method: ReplayMethod, budget: float) -> SeedResult:
    """Replay one method for one seed until the budget or the pool runs out."""
    import time

    start = time.perf_counter()
    rng = np.random.default_rng(method.seed)
    result = SeedResult(method.name, method.seed)
    spent = 0.0
    queue = list(method.initial_picks(rng))
    while True:
        row = queue.pop(0) if queue else method.next_pick()
        if row is None:
            break
        cost = float(problem.row_cost[row])
        if spent + cost > budget + 1e-9:
            break
        spent += cost
        method.observe(int(row))
        result.curve.append((spent, problem.regret(method.recommend())))
    rungs = problem.recorded.pool.rung[np.asarray(method.picked, dtype=int)]
    result.picks_per_rung = np.bincount(rungs, minlength=len(problem.recorded.ladder.rungs)
                                        ).tolist()
    result.seconds = time.perf_counter() - start
    return result


# --- summaries ---------------------------------------------------------------------------------

def regret_at(curve: Sequence[tuple[float, float]], cost: float) -> float | None:
    """Regret of the latest recommendation made with cumulative cost <= ``cost``."""
    value = None
    for spent, regret in curve:
        if spent > cost + 1e-9:
            break
        value = regret
    return value


def cost_to_best(curve: Sequence[tuple[float, float]]) -> float | None:
    """Cost from which the recommendation is the best mixture and stays so to the end."""
    if not curve or curve[-1][1] > BEST_TOL:
        return None
    j = len(curve) - 1
    while j > 0 and curve[j - 1][1] <= BEST_TOL:
        j -= 1
    return curve[j][0]


def cost_to_first_best(curve: Sequence[tuple[float, float]]) -> float | None:
    return next((spent for spent, regret in curve if regret <= BEST_TOL), None)


def median(values: Sequence[float | None]) -> float | None:
    """Median where a missing value (never reached) counts as infinitely late."""
    if not values:
        return None
    filled = [math.inf if v is None else v for v in values]
    m = float(np.median(filled))
    return None if math.isinf(m) else m


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


def summary_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per method: medians over seeds ("never" counts as infinitely late)."""
    rows = []
    for name, m in summary["methods"].items():
        row: dict[str, Any] = {"method": name,
                               "cost_to_best": median(m["cost_to_best"]),
                               "best at end": f"{sum(v is not None for v in m['cost_to_best'])}"
                                              f"/{len(m['cost_to_best'])}",
                               "first_best": median(m["cost_to_first_best"])}
        for u, values in m["regret_at"].items():
            row[f"regret@{u}"] = median(values)
        picks = np.array(m["picks_per_rung"])
        row["picks/rung"] = "/".join(f"{v:.1f}" for v in picks.mean(axis=0))
        row["s/seed"] = float(np.median(m["seconds"]))
        rows.append(row)
    return rows


# --- running many ------------------------------------------------------------------------------

MethodFactory = Callable[[ReplayProblem, int], ReplayMethod]


def _run_task(args: tuple) -> SeedResult:
    table_path, objective, minimize, method, seed, budget = args
    import torch

    torch.set_num_threads(1)
    from admire.bo.policies.baselines import make_method

    problem = _problem_cache(table_path, objective, minimize)
    return run_one(problem, make_method(method, problem, seed, budget), budget)


_PROBLEMS: dict[tuple, ReplayProblem] = {}


def _problem_cache(table_path: str, objective: str, minimize: bool) -> ReplayProblem:
    key = (table_path, objective, minimize)
    if key not in _PROBLEMS:
        _PROBLEMS[key] = ReplayProblem.from_table(runs.read_runs(table_path), objective,
                                                  minimize)
    return _PROBLEMS[key]


def replay(table_path: str | Path, objective: str, methods: Sequence[str], seeds: Sequence[int],
           budget: float, *, minimize: bool = False, workers: int | None = None,
           on_result: Callable[[SeedResult], None] | None = None) -> dict[str, Any]:
    """Run every method on every seed (in worker processes) and summarise."""
    from admire.bo.policies.baselines import parse_method

    for spec in methods:
        parse_method(spec)  # unknown methods or options fail before any work
    problem = _problem_cache(str(table_path), objective, minimize)
    tasks = [(str(table_path), objective, minimize, m, s, budget) for m in methods for s in seeds]
    workers = workers or min(len(tasks), max(1, (os.cpu_count() or 1)))
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
    return summarize(results, problem, budget,
                     problem.recorded.objective[len(runs.METRIC_PREFIX):])


def write_summary(summary: dict[str, Any], out: str | Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "summary.json"
    tmp = out / ".summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path

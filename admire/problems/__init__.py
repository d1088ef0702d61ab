"""Benchmark problems: recorded or generated runs tables with their objective and a budget.

Data only: a :class:`Problem` names a table, the metric to optimise and its direction, the ladder
order, and a default budget in target-run units (the mean cost of a target-rung run). Synthetic
problems also carry their truth: the noiseless objective at every rung and the continuous
optimum. No optimiser code lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from admire.errors import ConfigError
from admire.problems import olmix
from admire.problems.presets import PRESETS
from admire.problems.synthetic import SyntheticProblem, SyntheticSpec, generate
from admire.schema import runs

ADMIRE_TABLE = Path(__file__).resolve().parents[2] / "runs_dataset" / "admire_ift_runs.parquet"
MULTI_RUNG_BUDGET = 20.0  # target-run units; ADMIRE-like tables hold 76 target runs
SINGLE_RUNG_BUDGET = 30.0  # runs; a small share of a 512-run swarm
MAX_TARGET_SHARE = 0.4  # never budget more than this share of the table's target runs

# Averages first, then single tasks whose best 7B mixture is not avg_id+ood's best, from a task
# whose cheap rungs track the target (gsm8k: Spearman 0.59 / 0.43 for 0.5B / 3B vs 7B) to one
# where they carry no signal (codex_humaneval: -0.02 / 0.06).
ADMIRE_OBJECTIVES = ("avg_id+ood", "avg_id", "avg_ood", "gsm8k::tulu", "minerva_math::tulu",
                     "truthfulqa::tulu", "codex_humaneval::tulu")


@dataclass(frozen=True)
class Problem:
    """A runs table to optimise ``objective`` on, with a default budget in target-run units."""

    name: str
    table: pd.DataFrame
    objective: str  # metric column, ``m:<name>``
    minimize: bool
    budget: float
    rungs: tuple[str, ...]  # cheapest first, target last
    description: str = ""
    synthetic: SyntheticProblem | None = None

    @property
    def target_rung(self) -> str:
        return self.rungs[-1]

    @property
    def target_cost(self) -> float:
        """Mean cost of a target-rung run: the unit of ``budget``."""
        return float(self.table.loc[self.table[runs.RUNG] == self.target_rung, runs.COST].mean())

    def target_values(self) -> pd.Series:
        """Recorded objective per target mixture (replicates averaged), keyed by mixture."""
        target = self.table[self.table[runs.RUNG] == self.target_rung]
        return target.groupby(runs.mixture_keys(target))[self.objective].mean()

    def best_target_value(self) -> float:
        values = self.target_values()
        return float(values.min() if self.minimize else values.max())

    @property
    def optimum(self) -> tuple[np.ndarray, float] | None:
        """Continuous optimum at the target (weights, noiseless value), where known."""
        if self.synthetic is None:
            return None
        return self.synthetic.optimum_weights, self.synthetic.optimum_value

    @property
    def truth(self) -> Callable[..., np.ndarray] | None:
        """Noiseless objective ``truth(weights, rung=None)``, where known."""
        return None if self.synthetic is None else self.synthetic.truth


def ladder_order(table: pd.DataFrame) -> tuple[str, ...]:
    """Rung names from cheapest to target, by their fidelity."""
    by_rung = table.groupby(runs.RUNG)[runs.FIDELITY].first().sort_values(kind="stable")
    return tuple(str(r) for r in by_rung.index)


def default_budget(table: pd.DataFrame, rungs: Sequence[str]) -> float:
    """20 target runs for a ladder (30 runs for one rung), capped at 40% of the target runs."""
    n_target = int((table[runs.RUNG] == rungs[-1]).sum())
    budget = SINGLE_RUNG_BUDGET if len(rungs) == 1 else MULTI_RUNG_BUDGET
    return float(min(budget, np.floor(MAX_TARGET_SHARE * n_target)))


def admire_problems(objectives: Sequence[str] = ADMIRE_OBJECTIVES) -> list[Problem]:
    """ADMIRE IFT Runs (Qwen2.5 0.5B / 3B / 7B; maximise) for each objective."""
    table = runs.read_runs(ADMIRE_TABLE)
    rungs = ladder_order(table)
    problems = []
    for objective in objectives:
        column = runs.resolve_metric(objective, table)
        problems.append(Problem(
            name=f"admire-ift/{objective}", table=table, objective=column, minimize=False,
            budget=default_budget(table, rungs), rungs=rungs,
            description="ADMIRE IFT Runs: Qwen2.5 SFT on 19 Tulu-3 sources, 3 model sizes"))
    return problems


def olmix_problem() -> Problem:
    """The Olmix swarm (64 domains, one rung), minimising mean bits-per-byte."""
    table = olmix.olmix_table()
    rungs = ladder_order(table)
    return Problem(name=f"olmix-swarm/{olmix.OBJECTIVE}", table=table,
                   objective=runs.METRIC_PREFIX + olmix.OBJECTIVE, minimize=True,
                   budget=default_budget(table, rungs), rungs=rungs,
                   description="Olmix swarm: 512 30M-parameter proxies over 64 domains")


def synthetic_problem(name: str, spec: SyntheticSpec, seed: int = 0) -> Problem:
    """Wrap a generated problem; ``name`` labels its runs."""
    generated = generate(spec, seed, name)
    return Problem(name=f"synthetic/{name}/s{seed}", table=generated.table,
                   objective=generated.objective, minimize=generated.minimize,
                   budget=default_budget(generated.table, generated.rungs),
                   rungs=generated.rungs, description=f"synthetic mixing law, {spec}",
                   synthetic=generated)


def synthetic_problems(names: Sequence[str] | None = None, seed: int = 0) -> list[Problem]:
    """The named presets (all by default), generated from ``seed``."""
    chosen = list(PRESETS) if names is None else list(names)
    unknown = [n for n in chosen if n not in PRESETS]
    if unknown:
        raise ConfigError(f"unknown presets {unknown}; known: {list(PRESETS)}", where="names")
    return [synthetic_problem(n, PRESETS[n], seed) for n in chosen]


__all__ = ["ADMIRE_OBJECTIVES", "PRESETS", "Problem", "SyntheticProblem", "SyntheticSpec",
           "admire_problems", "default_budget", "generate", "ladder_order", "olmix_problem",
           "synthetic_problem", "synthetic_problems"]

"""Studies on ladders of 1 to 5 rungs for the practitioner baselines' tests: pools where a
mixture may lack rows at some rungs, and a known log-linear mixing law as the objective."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from helpers import make_config

from admire.bo.candidates import CandidatePool
from admire.bo.policies.registry import policy_spec
from admire.schema.ladder import FidelityLadder, Rung
from admire.study import Study

COSTS = (1.0, 4.0, 10.0)  # helpers.LADDER: 0.1, 0.4 and 1 target-run units


def ladder(costs: Sequence[float] = COSTS) -> FidelityLadder:
    """Rungs r0..r{n-1} with these costs (the last is the target and the cost unit)."""
    return FidelityLadder(tuple(Rung(f"r{i}", c / costs[-1], c) for i, c in enumerate(costs)),
                          name=f"ladder{len(costs)}")


def pool(mixtures: np.ndarray, rungs: Sequence[Sequence[int]] | int) -> CandidatePool:
    """A row per (mixture, rung); ``rungs`` is a rung count (every mixture at every rung) or
    each mixture's rungs. Ids: ``m{mixture}-r{rung}``."""
    if isinstance(rungs, int):
        rungs = [range(rungs)] * len(mixtures)
    weights, rung, ids = [], [], []
    for m, (w, at) in enumerate(zip(mixtures, rungs, strict=True)):
        for r in at:
            weights.append(w)
            rung.append(r)
            ids.append(f"m{m}-r{r}")
    return CandidatePool(np.array(weights), np.array(rung), tuple(ids))


def study(policy: str, *, k: int = 3, costs: Sequence[float] = COSTS, mode: str = "pool",
          candidates: CandidatePool | None = None, budget: float | None = 10.0,
          minimize: bool = True, seed: int = 0, lower: float = 0.0, upper: float = 1.0,
          **options: Any) -> Study:
    config = make_config(k, mode=mode, minimize=minimize, seed=seed, lower=lower, upper=upper,
                         budget=budget, max_trials=400)
    config = replace(config, ladder=ladder(costs), policy=policy_spec(policy, options))
    return Study(config, pool=candidates)


def mixing_law(k: int, seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """A loss ``L(w) = c + k exp(t . w)`` (lower is better) with random affinities t."""
    rng = np.random.default_rng(seed)
    slope = rng.normal(0.0, 2.0, k)
    return lambda w: 2.0 + np.exp(np.atleast_2d(w) @ slope)


def law_evaluator(law: Callable[[np.ndarray], np.ndarray], costs: Sequence[float] = COSTS
                  ) -> Callable[[dict[str, float], str], tuple[dict[str, float], float]]:
    """``fn(mixture, rung)``: the law, lower by 0.1 per rung up the ladder (bigger models
    have lower loss), at the rung's cost."""

    def evaluate(mixture: dict[str, float], rung: str) -> tuple[dict[str, float], float]:
        i = int(rung[1:])
        value = float(law(np.array(list(mixture.values())))[0]) - 0.1 * i
        return {"score": value}, costs[i]

    return evaluate


def trial_rungs(s: Study) -> list[int]:
    """Rung index of every run in the runs table, in the order they finished."""
    return [s.ladder.names.index(r) for r in s.runs["rung"]]

"""Domain-update scenarios on a synthetic problem: the same truth seen through changing domains.

A scenario is a sequence of stages over one synthetic problem's K "fine" domains:

* ``coarse``: two domains merged into one (its weight is their sum, drawn in proportion to
  their tokens) and one domain missing (weight 0);
* ``split``: the merged domain split into its two parts (the warm-start mapping is the token
  split);
* ``add``: the missing domain added (the final stage is the generator's own table).

Each stage has its own pool (a Dirichlet swarm over its domains, nested across rungs like the
generator's) whose rows are evaluated on the fine truth, with the generator's seed noise and
costs, and the ``[[warm_start]]`` mapping from the previous stage's domains. So a study at every
stage has a known best row, and the stages before it are the "earlier studies" to reuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from admire.problems.synthetic import (
    SyntheticProblem,
    SyntheticSpec,
    dirichlet_swarm,
    generate,
    rung_block,
    runs_table,
    stream_rng,
)

STREAM = 40  # random streams of the stages (the generator uses 0..15)


@dataclass(frozen=True)
class Stage:
    """One study's view: its domains, how they map onto the fine truth, its pool table and
    the warm-start mapping from the previous stage (None for the first)."""

    name: str
    domains: tuple[str, ...]
    to_fine: np.ndarray  # (K_stage, K_fine)
    table: pd.DataFrame
    mapping: dict[str, Any] | None


def _stage_table(problem: SyntheticProblem, name: str, domains: tuple[str, ...],
                 to_fine: np.ndarray, seed: int, stream: int) -> pd.DataFrame:
    """A nested pool over ``domains`` scored on the fine truth (noise and costs as generated)."""
    spec = problem.spec
    rng = stream_rng(seed, STREAM + stream)
    mixtures = dirichlet_swarm(len(domains), spec.rows_per_rung[0], rng)
    blocks = []
    for r, n in enumerate(spec.rows_per_rung):
        fine = mixtures[:n] @ to_fine
        values = problem.truth(fine, r) + problem.noise_sd[r] * rng.standard_normal(n)
        jitter = np.exp(spec.cost_jitter * rng.standard_normal(n))
        blocks.append(rung_block(problem, r, mixtures[:n], domains, values, jitter, 0))
    return runs_table(blocks, problem, f"{name}-s{seed}", name)


def split_add_scenario(spec: SyntheticSpec, seed: int = 0) -> list[Stage]:
    """coarse (d00+d01 merged, the last domain missing) -> split -> add, on one truth."""
    problem = generate(spec, seed, name="reuse")
    fine = problem.domains
    k = len(fine)
    a, b, missing = fine[0], fine[1], fine[-1]
    share = float(stream_rng(seed, STREAM).uniform(0.2, 0.8))  # a's share of the merged tokens
    merged = f"{a}+{b}"
    split = {merged: {a: share, b: 1.0 - share}}

    def view(domains: tuple[str, ...]) -> np.ndarray:
        m = np.zeros((len(domains), k))
        for i, d in enumerate(domains):
            if d == merged:
                m[i, 0], m[i, 1] = share, 1.0 - share
            else:
                m[i, fine.index(d)] = 1.0
        return m

    coarse = (merged, *fine[2:-1])
    middle = fine[:-1]
    return [
        Stage("coarse", coarse, view(coarse), _stage_table(problem, "coarse", coarse,
                                                            view(coarse), seed, 1), None),
        Stage("split", middle, view(middle), _stage_table(problem, "split", middle,
                                                          view(middle), seed, 2),
              {"split": split}),
        Stage("add", fine, view(fine), problem.table, {"added": [missing]}),
    ]


@dataclass(frozen=True)
class StageTruth:
    """A stage seen as a live study sees it: any mixture of the stage's domains can be trained.

    The pool replay can only pick the stage's swarm, which never holds the earlier best's
    shares, so it cannot test a policy that searches the subspace those shares leave open; a
    live study can. Here a run of a stage mixture is a run of its fine mixture on the problem's
    truth (with its noise and cost), and regret is measured against the best the stage's
    domains allow (the truth's minimum over the stage's simplex: a convex law composed with a
    linear map, so a local solver from a few starts finds it).
    """

    stage: Stage
    problem: SyntheticProblem
    optimum_weights: np.ndarray  # (K_stage,) the stage's best mixture at the target
    optimum_value: float
    scale: float  # median target value of a Dirichlet swarm minus the optimum: regret's unit

    @classmethod
    def of(cls, stage: Stage, problem: SyntheticProblem, seed: int) -> StageTruth:
        rng = stream_rng(seed, STREAM + 10)
        k = len(stage.domains)
        swarm = rng.dirichlet(np.ones(k), size=256)

        def value(w: np.ndarray) -> float:
            return float(problem.truth(np.clip(w, 0.0, None) @ stage.to_fine))

        best_w, best = None, np.inf
        for start in [np.full(k, 1.0 / k), *swarm[np.argsort(
                problem.truth(swarm @ stage.to_fine))[:4]]]:
            res = minimize(value, start, method="SLSQP", bounds=[(0.0, 1.0)] * k,
                           constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0},),
                           options={"ftol": 1e-12, "maxiter": 500})
            w = np.clip(res.x, 0.0, None)
            w /= w.sum()
            if value(w) < best:
                best_w, best = w, value(w)
        assert best_w is not None
        median = float(np.median(problem.truth(swarm @ stage.to_fine)))
        return cls(stage, problem, best_w, best, median - best)

    def fine(self, weights: np.ndarray) -> np.ndarray:
        w = np.asarray(weights, dtype=float) @ self.stage.to_fine
        return w / w.sum()

    def evaluate(self, weights: np.ndarray, rung: str, rng: np.random.Generator
                 ) -> tuple[dict[str, float], float]:
        """One noisy run of a stage mixture at a rung: ({metric: value}, cost)."""
        return self.problem.evaluate(self.fine(weights), rung, rng)

    def regret(self, weights: np.ndarray) -> float:
        """The target's noiseless value at a stage mixture minus the stage's best (>= 0)."""
        return self.fine_regret(self.fine(weights))

    def fine_regret(self, fine: np.ndarray) -> float:
        """The same for a fine mixture (one an earlier stage's mixture maps to)."""
        return max(0.0, float(self.problem.truth(fine)) - self.optimum_value)


def split_add_truths(spec: SyntheticSpec, seed: int = 0) -> list[StageTruth]:
    """:func:`split_add_scenario`'s stages with the truth a live study at each would meet."""
    problem = generate(spec, seed, name="reuse")
    return [StageTruth.of(stage, problem, seed) for stage in split_add_scenario(spec, seed)]

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

"""What a policy sees: the study's history, as plain arrays.

A policy never reads the Ax experiment or the runs table: the Study turns them into a
:class:`History` (completed observations, trials in flight, every point already used, the
budget's state), so a policy is a function of its history and the same policy runs live, in a
notebook and in replay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from admire.space import mixture_key


@dataclass(frozen=True)
class Observations:
    """Completed trials: weights (n, K), rung index (n,), objective oriented for maximisation
    (n,), cost in target-run units (n,)."""

    weights: np.ndarray
    rung: np.ndarray
    y: np.ndarray
    cost: np.ndarray
    # Multi-objective studies: every tracked metric (OutcomeSpec.metrics order), in the metrics'
    # own direction (n, m); None for a single objective.
    outcomes: np.ndarray | None = None

    @classmethod
    def empty(cls, k: int) -> Observations:
        return cls(np.zeros((0, k)), np.zeros(0, dtype=int), np.zeros(0), np.zeros(0))

    @property
    def n(self) -> int:
        return len(self.y)

    def at(self, rung: int) -> Observations:
        keep = self.rung == rung
        return Observations(self.weights[keep], self.rung[keep], self.y[keep], self.cost[keep],
                            None if self.outcomes is None else self.outcomes[keep])


@dataclass(frozen=True)
class BudgetState:
    """The budget as a policy needs it, in target-run units (1 = the study's cost unit).

    ``rung_cost`` is the expected cost of one run per rung in those units: the observed mean
    where a rung has completed runs, the ladder's estimate (rescaled by how far off the observed
    rungs were) elsewhere.
    """

    total: float | None
    spent: float
    committed: float
    rung_cost: np.ndarray

    @property
    def remaining(self) -> float | None:
        return None if self.total is None else self.total - self.spent - self.committed


@dataclass(frozen=True)
class History:
    """Everything a policy may base a proposal or a recommendation on."""

    observations: Observations
    pending_weights: np.ndarray  # (p, K) trials running or proposed and not finished
    pending_rung: np.ndarray  # (p,)
    pending_candidates: tuple[str | None, ...]
    used_candidates: frozenset[str]  # pool ids of every trial ever made (any status)
    used_points: frozenset[tuple]  # (mixture key, rung) of every trial ever made
    n_trials: int  # trials so far, any status: seeds every random choice
    budget: BudgetState

    @property
    def n_pending(self) -> int:
        return len(self.pending_rung)

    def is_used(self, weights: np.ndarray, rung: int) -> bool:
        return (mixture_key(weights), int(rung)) in self.used_points

"""The study's trials in admire's terms, kept in step with the Ax experiment.

The Study is the only writer of its experiment, and it updates this index at every write, so a
policy's History is built from plain arrays instead of re-reading Ax's trials and data at every
step (which grows with the study: seconds per step at thousands of trials). On load the index
is rebuilt from the experiment once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from ax.core.trial_status import TrialStatus

from admire.bo.costs import rung_costs
from admire.bo.history import BudgetState, History, Observations
from admire.errors import ValidationError
from admire.space import mixture_key

RUNNING, COMPLETED, FAILED, ABANDONED = "running", "completed", "failed", "abandoned"


@dataclass
class TrialRecord:
    weights: np.ndarray
    rung: int
    candidate: str | None
    status: str = RUNNING
    y: float | None = None  # the objective, oriented for maximisation
    cost: float | None = None  # in target-run units
    outcomes: np.ndarray | None = None  # every tracked metric (multi-objective studies)
    key: tuple = ()  # mixture key, to avoid proposing the same (mixture, rung) twice

    def __post_init__(self) -> None:
        self.key = (mixture_key(self.weights), self.rung)


class TrialIndex:
    """Trial index -> :class:`TrialRecord`, in trial order."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.records: dict[int, TrialRecord] = {}

    def add(self, index: int, weights: np.ndarray, rung: int, candidate: str | None) -> None:
        self.records[index] = TrialRecord(np.asarray(weights, dtype=float), rung, candidate)

    def complete(self, index: int, y: float, cost: float,
                 outcomes: np.ndarray | None = None) -> None:
        record = self.records[index]
        record.status, record.y, record.cost = COMPLETED, y, cost
        if outcomes is not None:
            record.outcomes = np.asarray(outcomes, dtype=float)

    def end(self, index: int, status: str) -> None:
        self.records[index].status = status

    def history(self, total: float | None, spent: float, estimates: np.ndarray,
                unit: float) -> History:
        """The policy's view: completed observations, trials in flight, everything used, and
        the budget with the cost model's expected cost per rung (target-run units)."""
        done = [r for _, r in sorted(self.records.items()) if r.status == COMPLETED]
        running = [r for _, r in sorted(self.records.items()) if r.status == RUNNING]
        obs = Observations(np.array([r.weights for r in done]).reshape(-1, self.k),
                           np.array([r.rung for r in done], dtype=int),
                           np.array([r.y for r in done], dtype=float),
                           np.array([r.cost for r in done], dtype=float),
                           _outcomes(done))
        unit_costs = rung_costs(estimates, obs.rung, obs.cost * unit) / unit
        pending_rung = np.array([r.rung for r in running], dtype=int)
        budget = BudgetState(total, spent, float(unit_costs[pending_rung].sum()), unit_costs)
        records = self.records.values()
        return History(obs, np.array([r.weights for r in running]).reshape(-1, self.k),
                       pending_rung, tuple(r.candidate for r in running),
                       frozenset(r.candidate for r in records if r.candidate is not None),
                       frozenset(r.key for r in records),
                       len(self.records), budget)


def _outcomes(done: list[TrialRecord]) -> np.ndarray | None:
    """The tracked metrics of completed trials (n, m), when every one has them."""
    if not done or any(r.outcomes is None for r in done):
        return None
    return np.array([r.outcomes for r in done], dtype=float)


STATUS_OF = {TrialStatus.RUNNING: RUNNING, TrialStatus.COMPLETED: COMPLETED,
             TrialStatus.FAILED: FAILED, TrialStatus.ABANDONED: ABANDONED}


def clean_metrics(metrics: Mapping[str, float], objective: str, where: str) -> dict[str, float]:
    """Metrics as finite floats; the objective must be among them."""
    if objective not in metrics:
        raise ValidationError(f"objective {objective!r} missing from metrics "
                              f"{sorted(metrics)}", where=where)
    clean: dict[str, float] = {}
    for name, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValidationError(f"metric {name!r} is not a number: {value!r}",
                                  where=where) from None
        if not math.isfinite(number):
            raise ValidationError(f"metric {name!r} is {number}; refused (not given to the "
                                  "model)", where=where)
        clean[name] = number
    return clean

"""A runs table prepared for replay: its candidates, its truth at the target, and the regret.

Protocol (DESIGN.md): candidates are the table's completed rows; a pick costs its row's cost and
reveals its metrics; a row is picked at most once. After every pick the policy recommends one
mixture among those with a target-rung row, scored by simple regret = best target value - true
target value of the recommended mixture (mixtures are matched across rungs by their weights).
Costs are in target-run units (the table's mean target-rung cost).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from admire.bo.policies.base import PolicySpec
from admire.evaluators.recorded import RecordedEvaluator, RecordedRuns
from admire.schema.config import DomainConfig, ObjectiveConfig, StudyConfig
from admire.study.study import Study


@dataclass(frozen=True)
class ReplayProblem:
    """Recorded runs plus the truth the regret is measured against."""

    recorded: RecordedRuns
    target_weights: np.ndarray  # (M, K) mixtures with a target-rung row
    target_values: np.ndarray  # (M,) their true target value, in the metric's own direction

    @classmethod
    def from_table(cls, table: pd.DataFrame, objective: str, minimize: bool = False
                   ) -> ReplayProblem:
        recorded = RecordedRuns.from_table(table, objective, minimize)
        weights, values = recorded.target_truth()
        return cls(recorded, weights, values)

    @property
    def minimize(self) -> bool:
        return self.recorded.minimize

    @property
    def cost_unit(self) -> float:
        return self.recorded.ladder.target.cost_estimate

    @property
    def best_value(self) -> float:
        """Best true target value, in the metric's own direction."""
        return float(self.target_values.min() if self.minimize else self.target_values.max())

    def regret(self, target_index: int) -> float:
        oriented = -self.target_values if self.minimize else self.target_values
        return float(oriented.max() - oriented[target_index])

    def target_index(self, weights: np.ndarray) -> int:
        """Index of a recommended mixture among the target mixtures (nearest; exact in replay,
        where every recommendation is one of them)."""
        distance = np.abs(self.target_weights - np.asarray(weights)[None, :]).sum(axis=1)
        return int(np.argmin(distance))

    def config(self, policy: PolicySpec, *, seed: int, budget: float | None,
               name: str = "replay") -> StudyConfig:
        """A pool-mode study config over this table's domains, objective and ladder."""
        return StudyConfig(
            name=name, domains=tuple(DomainConfig(name=d) for d in self.recorded.domains),
            objective=ObjectiveConfig(metric=self.recorded.metric, minimize=self.minimize),
            ladder=self.recorded.ladder, policy=policy, mode="pool", budget=budget,
            max_trials=len(self.recorded.pool), seed=seed)

    def study(self, policy: PolicySpec, *, seed: int, budget: float | None) -> Study:
        """A fresh pool-mode Study whose candidates are this table's rows."""
        return Study(self.config(policy, seed=seed, budget=budget, name=f"replay-{seed}"),
                     pool=self.recorded.pool)

    def evaluator(self) -> RecordedEvaluator:
        return RecordedEvaluator(self.recorded)

"""Recorded runs as an evaluator: running a candidate returns its recorded metrics and cost.

This is what makes replay the same loop as live tuning: a runs table becomes a candidate pool
(one candidate per completed row) and a ladder (rungs ordered by fidelity, costs from the data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from admire.errors import ValidationError
from admire.schema import runs
from admire.schema.config import DomainConfig, ObjectiveConfig, StrategyConfig, StudyConfig
from admire.schema.ladder import FidelityLadder, Rung
from admire.study import Study
from admire.study.ax_bridge import CandidatePool


@dataclass(frozen=True)
class RecordedRuns:
    """A validated runs table seen as a pool of candidates with known outcomes."""

    table: pd.DataFrame  # completed rows only, index 0..N-1 = pool row
    objective: str  # metric column, e.g. "m:avg_id+ood"
    minimize: bool
    ladder: FidelityLadder
    pool: CandidatePool

    @classmethod
    def from_table(cls, table: pd.DataFrame, objective: str, minimize: bool = False,
                   study: str = "replay") -> RecordedRuns:
        column = runs.resolve_metric(objective, table)
        done = table[table[runs.STATUS] == runs.COMPLETED].reset_index(drop=True)
        if done.empty:
            raise ValidationError("no completed runs to replay", where="runs table")
        by_rung = done.groupby(runs.RUNG, sort=False).agg(fidelity=(runs.FIDELITY, "first"),
                                                          cost=(runs.COST, "mean"))
        by_rung = by_rung.sort_values("fidelity")
        ladder = FidelityLadder(tuple(Rung(str(name), float(row.fidelity),
                                           max(float(row.cost), 1e-12))
                                      for name, row in by_rung.iterrows()), name=study)
        rung_index = {name: i for i, name in enumerate(ladder.names)}
        pool = CandidatePool(done[runs.weight_columns(done)].to_numpy(dtype=float),
                             done[runs.RUNG].map(rung_index).to_numpy(dtype=int),
                             tuple(done[runs.RUN_ID].astype(str)))
        return cls(done, column, minimize, ladder, pool)

    @property
    def domains(self) -> list[str]:
        return runs.domains(self.table)

    @property
    def target_rung(self) -> int:
        return len(self.ladder.rungs) - 1

    def study_config(self, *, name: str = "replay", seed: int = 0,
                     strategy: StrategyConfig | None = None,
                     budget: float | None = None) -> StudyConfig:
        """A pool-mode study config over this table's domains, objective and ladder."""
        return StudyConfig(
            name=name, domains=tuple(DomainConfig(d) for d in self.domains),
            objective=ObjectiveConfig(self.objective[len(runs.METRIC_PREFIX):], self.minimize),
            ladder=self.ladder, strategy=strategy or StrategyConfig(initial_trials=1, seed=seed),
            mode="pool", max_trials=len(self.pool), budget=budget)

    def study(self, *, name: str = "replay", seed: int = 0,
              strategy: StrategyConfig | None = None, budget: float | None = None) -> Study:
        """A fresh pool-mode Study whose candidates are this table's rows."""
        return Study(self.study_config(name=name, seed=seed, strategy=strategy, budget=budget),
                     pool=self.pool)

    def row_of(self, candidate_id: str) -> int:
        return self.table.index[self.table[runs.RUN_ID] == candidate_id][0]

    def evaluate(self, row: int) -> tuple[dict[str, float], float]:
        """Metrics (name without prefix -> value) and cost of pool row ``row``."""
        record = self.table.iloc[row]
        metrics = {c[len(runs.METRIC_PREFIX):]: float(record[c])
                   for c in runs.metric_columns(self.table) if pd.notna(record[c])}
        return metrics, float(record[runs.COST])

    def value(self, row: int) -> float:
        return float(self.table.iloc[row][self.objective])

    def target_truth(self) -> tuple[np.ndarray, np.ndarray]:
        """Mixtures with a target-rung row and their true target value (replicates averaged)."""
        target = self.table[self.table[runs.RUNG] == self.ladder.target.name]
        if target.empty:
            raise ValidationError(f"no completed runs at the target rung "
                                  f"{self.ladder.target.name!r}", where="runs table")
        keys = runs.mixture_keys(target)
        grouped = target.groupby(keys, sort=True)
        weights = np.array([g[runs.weight_columns(target)].iloc[0].to_numpy(dtype=float)
                            for _, g in grouped])
        values = grouped[self.objective].mean().to_numpy(dtype=float)
        return weights, values

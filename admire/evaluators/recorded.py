"""Recorded runs as an evaluator: running a candidate returns its recorded metrics and cost.

This is what makes replay the same loop as live tuning: a runs table becomes a candidate pool
(one candidate per completed row) and a ladder (rungs ordered by fidelity, each rung's cost
estimate its mean recorded cost, so the study's cost unit is the mean target-run cost).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from admire.bo.candidates import CandidatePool
from admire.errors import ValidationError
from admire.evaluators.base import Outcome, Proposal
from admire.schema import runs
from admire.schema.ladder import FidelityLadder, Rung


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
                   name: str = "replay") -> RecordedRuns:
        column = runs.resolve_metric(objective, table)
        done = table[table[runs.STATUS] == runs.COMPLETED].reset_index(drop=True)
        if done.empty:
            raise ValidationError("no completed runs to replay", where="runs table")
        by_rung = done.groupby(runs.RUNG, sort=False).agg(fidelity=(runs.FIDELITY, "first"),
                                                          cost=(runs.COST, "mean"))
        by_rung = by_rung.sort_values("fidelity")
        ladder = FidelityLadder(tuple(Rung(str(rung), float(row.fidelity),
                                           max(float(row.cost), 1e-12))
                                      for rung, row in by_rung.iterrows()), name=name)
        rung_index = {rung: i for i, rung in enumerate(ladder.names)}
        pool = CandidatePool(done[runs.weight_columns(done)].to_numpy(dtype=float),
                             done[runs.RUNG].map(rung_index).to_numpy(dtype=int),
                             tuple(done[runs.RUN_ID].astype(str)))
        return cls(done, column, minimize, ladder, pool)

    @property
    def domains(self) -> list[str]:
        return runs.domains(self.table)

    @property
    def metric(self) -> str:
        """The objective's name without the column prefix."""
        return self.objective[len(runs.METRIC_PREFIX):]

    def evaluate(self, row: int) -> tuple[dict[str, float], float]:
        """Metrics (name without prefix -> value) and cost of pool row ``row``."""
        record = self.table.iloc[row]
        metrics = {c[len(runs.METRIC_PREFIX):]: float(record[c])
                   for c in runs.metric_columns(self.table) if pd.notna(record[c])}
        return metrics, float(record[runs.COST])

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


class RecordedEvaluator:
    """Evaluates a proposal by looking up its pool row; outcomes are ready at once."""

    def __init__(self, recorded: RecordedRuns, *, metrics: str = "all",
                 capacity: int = 1) -> None:
        self.recorded = recorded
        self.capacity = capacity
        self.only_objective = metrics == "objective"
        self._done: list[Outcome] = []

    @property
    def free(self) -> int:
        return self.capacity - len(self._done)

    def _row(self, proposal: Proposal) -> int:
        if proposal.candidate_id is None:
            raise ValidationError("recorded runs can only evaluate pool candidates",
                                  where=f"trial {proposal.trial_index}")
        return self.recorded.pool.row_of(proposal.candidate_id)

    def submit(self, proposal: Proposal) -> None:
        metrics, cost = self.recorded.evaluate(self._row(proposal))
        if self.only_objective:
            metrics = {self.recorded.metric: metrics[self.recorded.metric]}
        self._done.append(Outcome(proposal.trial_index, metrics, cost))

    def poll(self, timeout: float | None) -> list[Outcome]:
        done, self._done = self._done, []
        return done

    def expected_cost(self, proposal: Proposal) -> float | None:
        return float(self.recorded.table.iloc[self._row(proposal)][runs.COST])

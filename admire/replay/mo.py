"""Multi-objective replay: the same Study and loop, scored by hypervolume regret.

After every recorded outcome the study recommends its Pareto set at the target rung. Its score
is the hypervolume of the *true* target values (replicates averaged) of the recommended
mixtures, counting only those truly feasible under the constraints, against a reference point
fixed per problem (the worst value of each objective over the table's target mixtures); the
regret is HV(true Pareto front of the table's feasible target mixtures) - HV(recommended). A
second score, ``evaluated``, is the same for every mixture the study has run at the target
(never larger regret than the best subset it could recommend, and non-increasing). Hypervolumes
are BoTorch's ``DominatedPartitioning``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning

from admire.bo.outcomes import OutcomeSpec
from admire.bo.policies.base import PolicySpec
from admire.evaluators.recorded import RecordedRuns
from admire.replay.problem import ReplayProblem
from admire.replay.runner import picks_per_rung
from admire.schema import runs
from admire.schema.objectives import ConstraintConfig, check_outcome_metrics, outcome_spec
from admire.study.loop import Event, run
from admire.study.study import Study


def hypervolume(oriented: np.ndarray, ref_point: np.ndarray) -> float:
    """Hypervolume dominated by the rows of ``oriented`` (n, m; to maximise) above
    ``ref_point`` (BoTorch's box decomposition)."""
    if not len(oriented):
        return 0.0
    partitioning = DominatedPartitioning(
        ref_point=torch.as_tensor(ref_point, dtype=torch.float64),
        Y=torch.as_tensor(oriented, dtype=torch.float64))
    return float(partitioning.compute_hypervolume())


@dataclass(frozen=True)
class MOReplayProblem:
    """A runs table with several objectives: candidates, truth per objective, reference point."""

    base: ReplayProblem  # the table as a single-objective problem on the first objective
    objectives: tuple[tuple[str, bool], ...]
    constraints: tuple[ConstraintConfig, ...]
    truth: np.ndarray  # (M, m) true target values of every tracked metric, own direction

    @classmethod
    def from_table(cls, table: pd.DataFrame, objectives: tuple[tuple[str, bool], ...],
                   constraints: tuple[ConstraintConfig, ...] = ()) -> MOReplayProblem:
        spec = outcome_spec(objectives, constraints)
        check_outcome_metrics(spec, runs.metrics(table), where="mo replay")
        base = ReplayProblem.from_table(table, objectives[0][0], objectives[0][1])
        columns = []
        for metric in spec.metrics:
            weights, values = RecordedRuns.from_table(table, metric).target_truth()
            assert np.array_equal(weights, base.target_weights)
            columns.append(values)
        return cls(base, tuple(objectives), tuple(constraints), np.stack(columns, axis=1))

    @property
    def spec(self) -> OutcomeSpec:
        return outcome_spec(self.objectives, self.constraints)

    @property
    def ref_point(self) -> np.ndarray:
        """The worst value of each objective over the table's target mixtures (oriented)."""
        return self.spec.oriented_objectives(self.truth).min(axis=0)

    def hv_of(self, indices: np.ndarray) -> float:
        """Hypervolume of the true values of target mixtures ``indices`` that truly meet the
        constraints."""
        indices = np.asarray(indices, dtype=int)
        keep = indices[self.spec.feasible(self.truth[indices])] if len(indices) else indices
        return hypervolume(self.spec.oriented_objectives(self.truth[keep]), self.ref_point)

    @property
    def best_hv(self) -> float:
        return self.hv_of(np.arange(len(self.truth)))

    def indices(self, weights: np.ndarray) -> np.ndarray:
        return np.array([self.base.target_index(w) for w in np.atleast_2d(weights)], dtype=int)

    def study(self, policy: PolicySpec, *, seed: int, budget: float) -> Study:
        config = replace(self.base.config(policy, seed=seed, budget=budget,
                                          name=f"mo-replay-{seed}"),
                         objectives=self.objectives, constraints=self.constraints)
        return Study(config, pool=self.base.recorded.pool)


@dataclass
class MOSeedResult:
    method: str
    seed: int
    curve: list[tuple[float, float, float, int]] = field(default_factory=list)
    # (cost, HV regret of the recommended set, HV regret of every evaluated target mixture,
    #  size of the recommended set: a larger set covers more, so it is reported beside)
    picks_per_rung: list[int] = field(default_factory=list)
    final_pareto_size: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "seed": self.seed, "curve": self.curve,
                "picks_per_rung": self.picks_per_rung,
                "final_pareto_size": self.final_pareto_size, "seconds": round(self.seconds, 2)}


def replay_mo_one(problem: MOReplayProblem, spec: PolicySpec, seed: int,
                  budget: float) -> MOSeedResult:
    """Run one policy for one seed; score the recommended Pareto set after every outcome."""
    start = time.perf_counter()
    study = problem.study(spec, seed=seed, budget=budget)
    result = MOSeedResult(spec.display, seed)
    domains = study.space.domains
    target = study.ladder.target.name
    best = problem.best_hv

    def score(event: Event) -> None:
        if event.kind != "recorded" or event.failure is not None:
            return
        front = study.recommend_pareto(interval=False)
        picked = problem.hv_of(problem.indices(front.weights(domains)))
        table = study.runs
        done = table[(table[runs.RUNG] == target) & (table[runs.STATUS] == runs.COMPLETED)]
        evaluated = problem.hv_of(problem.indices(
            done[[runs.WEIGHT_PREFIX + d for d in domains]].to_numpy(dtype=float)))
        result.curve.append((study.spent(), best - picked, best - evaluated,
                             len(front.points)))
        result.final_pareto_size = len(front.points)

    run(study, problem.base.evaluator(), on_event=score)
    result.picks_per_rung = picks_per_rung(study)
    result.seconds = time.perf_counter() - start
    return result


def regret_at(curve: list[tuple[float, float, float, int]], budget: float, column: int = 1
              ) -> float | None:
    """Column ``column`` (1: picked regret, 2: evaluated regret, 3: set size) of the last
    recommendation made within ``budget`` (None: none yet)."""
    within = [point[column] for point in curve if point[0] <= budget + 1e-9]
    return within[-1] if within else None

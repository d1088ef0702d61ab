"""A multi-objective recommendation: the predicted Pareto set at the target rung, with 90%
intervals per objective, feasible under the outcome constraints, and the one mixture a
trade-off picks from it.

The single-objective :class:`~admire.bo.policies.base.Recommendation` is unchanged; a
multi-objective study adds this one (``Study.recommend_pareto``). Non-domination and the
Chebyshev scalarisation are BoTorch's (``is_non_dominated``, ``get_chebyshev_scalarization``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from botorch.utils.multi_objective.pareto import is_non_dominated
from botorch.utils.multi_objective.scalarization import get_chebyshev_scalarization

from admire.bo.history import History
from admire.bo.intervals import Z90
from admire.bo.outcomes import OutcomeSpec
from admire.space import mixture_ids

if TYPE_CHECKING:
    from admire.bo.policies.base import Policy


@dataclass(frozen=True)
class ParetoPoint:
    """One mixture of the Pareto set: predicted value and 90% interval per objective (in each
    metric's own direction; intervals None where the values were observed, not modelled)."""

    mixture: dict[str, float]
    predicted: dict[str, float]
    lower90: dict[str, float] | None
    upper90: dict[str, float] | None

    def to_dict(self) -> dict[str, Any]:
        return {"mixture": self.mixture, "predicted": self.predicted, "lower90": self.lower90,
                "upper90": self.upper90}


@dataclass(frozen=True)
class ParetoRecommendation:
    """The non-dominated mixtures at the target rung and the trade-off's pick among them."""

    objectives: tuple[str, ...]
    points: tuple[ParetoPoint, ...]
    chosen: int  # index into ``points``
    tradeoff: dict[str, float]
    scalarization: str
    rung: str
    n_observations: int
    feasible: bool  # False: no candidate met the constraints; the set ignores them
    basis: str = "model"  # "model": posterior means; "observed": the runs' own values
    interval_note: str | None = None  # why the intervals are withheld (admire.bo.reach)

    @property
    def choice(self) -> ParetoPoint:
        return self.points[self.chosen]

    def weights(self, domains: tuple[str, ...] | list[str]) -> np.ndarray:
        """(n_points, K) mixtures of the set, in ``domains`` order."""
        return np.array([[p.mixture[d] for d in domains] for p in self.points])

    def to_dict(self) -> dict[str, Any]:
        return {"objectives": list(self.objectives), "rung": self.rung,
                "pareto_set": [p.to_dict() for p in self.points], "chosen": self.chosen,
                "choice": self.choice.to_dict(), "tradeoff": self.tradeoff,
                "scalarization": self.scalarization, "feasible": self.feasible,
                "n_observations": self.n_observations, "basis": self.basis,
                "interval_note": self.interval_note,
                "intervals": "lower90/upper90: 90% for the mean of each objective at the target"}


def non_dominated(oriented: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``oriented`` (n, m), to maximise, that no other row dominates
    (duplicates kept once)."""
    if not len(oriented):
        return np.zeros(0, dtype=bool)
    return is_non_dominated(torch.as_tensor(oriented, dtype=torch.float64)).numpy()


def tradeoff_pick(oriented: np.ndarray, weights: np.ndarray, how: str) -> int:
    """Index of the row of ``oriented`` (n, m), to maximise, the trade-off prefers: the best
    weighted sum of standardised objectives (``linear``), or the best Chebyshev scalarisation
    (BoTorch's, objectives normalised over the rows)."""
    weights = np.asarray(weights, dtype=float) / np.sum(weights)
    if len(oriented) == 1:
        return 0
    if how == "chebyshev":
        y = torch.as_tensor(oriented, dtype=torch.float64)
        scalarize = get_chebyshev_scalarization(torch.as_tensor(weights, dtype=torch.float64), y)
        return int(torch.argmax(scalarize(y)))
    sd = oriented.std(axis=0)
    z = (oriented - oriented.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return int(np.argmax(z @ weights))


def tradeoff_weights(spec: OutcomeSpec, given: Mapping[str, float] | None) -> np.ndarray:
    """Per-objective weights (equal by default; objectives the user left out weigh 0)."""
    if not given:
        return np.ones(spec.n_objectives)
    return np.array([float(given.get(m, 0.0)) for m in spec.objectives])


def build(spec: OutcomeSpec, mixtures: list[dict[str, float]], raw: np.ndarray,
          sd: np.ndarray | None, history: History, rung: str, *, tradeoff: np.ndarray,
          how: str, basis: str) -> ParetoRecommendation:
    """The Pareto recommendation among candidates with predicted (or observed) values ``raw``
    (n, m, in each metric's own direction) and posterior sds ``sd`` (n, m, widened already)."""
    feasible = spec.feasible(raw)
    any_feasible = bool(feasible.any())
    keep = np.flatnonzero(feasible) if any_feasible else np.arange(len(raw))
    oriented = spec.oriented_objectives(raw[keep])
    front = keep[non_dominated(oriented)]
    chosen = tradeoff_pick(spec.oriented_objectives(raw[front]), tradeoff, how)
    names = spec.objectives

    def values(row: np.ndarray) -> dict[str, float]:
        return {m: float(v) for m, v in zip(names, row[:spec.n_objectives], strict=True)}

    points = []
    for i in front:
        if sd is None:
            low = high = None
        else:
            z = Z90 * sd[i]
            low, high = values(raw[i] - z), values(raw[i] + z)
        points.append(ParetoPoint(mixtures[i], values(raw[i]), low, high))
    return ParetoRecommendation(names, tuple(points), chosen,
                                {m: float(w) for m, w in zip(names, tradeoff, strict=True)},
                                how, rung, history.observations.n, any_feasible, basis)


def observed_pareto(policy: Policy, history: History) -> ParetoRecommendation:
    """The Pareto set of the mixtures run at the target (their values averaged over
    replicates), for a policy without a multi-objective model (``random``)."""
    spec, context = policy.context.outcomes, policy.context
    assert spec is not None and history.observations.outcomes is not None
    obs = history.observations
    at = obs.rung == context.target
    if not at.any():
        at = np.ones(obs.n, dtype=bool)
    weights, outcomes = obs.weights[at], obs.outcomes[at]
    group = mixture_ids(weights)
    firsts = [int(np.flatnonzero(group == g)[0]) for g in range(group.max() + 1)]
    raw = np.array([outcomes[group == g].mean(axis=0) for g in range(group.max() + 1)])
    mixtures = [context.space.as_dict(weights[i]) for i in firsts]
    options = getattr(policy.options, "tradeoff", None)
    how = getattr(policy.options, "scalarization", "linear")
    return build(spec, mixtures, raw, None, history, context.rung_names[-1],
                 tradeoff=tradeoff_weights(spec, options), how=how, basis="observed")


def pareto_recommendation(policy: Policy, history: History, *,
                          interval: bool = True) -> ParetoRecommendation:
    """The policy's own Pareto set where it models the objectives, else the observed one."""
    own = getattr(policy, "pareto", None)
    if own is not None:
        return own(history, interval=interval)
    return observed_pareto(policy, history)

"""The Policy interface: given the history, propose a batch; given the history, recommend.

A policy is the one thing that differs between admire's default, the cost-aware KG and the
baselines a user would otherwise pick: each is one class with typed options, and every one runs
through the same Study and the same loop, live or in replay (Optuna's sampler is the model).

Policies are functions of their history: every random choice is seeded by (study seed, trials
so far), so a study rebuilt from storage makes the same next proposal. A policy may keep a
fitted model between calls as a cache; :meth:`Policy.state` persists it for an exact resume.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from admire.bo.candidates import CandidatePool
from admire.bo.history import History
from admire.bo.intervals import Z90
from admire.bo.outcomes import OutcomeSpec
from admire.bo.policies.options import PolicyOptions
from admire.bo.seeding import derive_seed
from admire.space import MixtureSpace, mixture_key

if TYPE_CHECKING:
    from admire.bo.prior import PriorRuns
    from admire.bo.reach import IntervalReach



@dataclass(frozen=True)
class PolicyContext:
    """What a policy knows about the problem besides its history."""

    space: MixtureSpace
    rung_names: tuple[str, ...]
    rung_fidelity: tuple[float, ...]
    pool: CandidatePool | None
    minimize: bool
    seed: int
    prior: PriorRuns | None = None  # earlier studies' runs (warm start), never trials
    outcomes: OutcomeSpec | None = None  # several objectives and constraints, if any

    @property
    def target(self) -> int:
        return len(self.rung_names) - 1

    def seed_for(self, *parts: object) -> int:
        return derive_seed(self.seed, *parts)


@dataclass(frozen=True)
class Candidate:
    """One proposal: a mixture at a rung (a pool row in pool mode), with the acquisition value
    per unit cost that chose it (None for a designed or random point)."""

    weights: np.ndarray
    rung: int
    candidate_id: str | None = None
    value: float | None = None


@dataclass(frozen=True)
class Recommendation:
    """The mixture to train at the target rung and its predicted objective (in the metric's
    own direction), with two 90% intervals where the policy has a model (else None):

    - ``lower90``/``upper90``: the mean objective there (the model's posterior);
    - ``run_lower90``/``run_upper90``: what one new training run there will score, seed noise
      included.
    Both are widened by ``interval_scale``: the factor that makes the model's intervals cover
    90% of its own target runs when each mixture is left out in turn (a GP fitted by marginal
    likelihood is overconfident away from its data). In bench/results/calibration.md the
    new-run interval holds about 90% of a study's own target runs, each predicted before it
    ran, but only 45-82% at mixtures the study never ran at the target; a model policy's
    recommendation and its prediction at a given mixture (``basis="prediction"``) therefore
    also carry the hyperparameters' uncertainty, which raises that to 0.72-0.94. At a mixture
    run at the target they also span its prediction without its own runs (the recommendation
    is picked for the high mean its own lucky runs gave it: the winner's curse). Intervals
    are withheld while the target rung has too few runs to check them on, and a mixture
    beyond the checked distance says so (``reach``, ``interval_note``: :mod:`admire.bo.reach`).
    """

    mixture: dict[str, float]
    predicted: float
    lower90: float | None
    upper90: float | None
    rung: str
    n_observations: int
    basis: str = "model"  # "model": a posterior mean; "observed": the best value run;
    # "prediction": the model at a given mixture (not a recommendation)
    run_lower90: float | None = None
    run_upper90: float | None = None
    interval_scale: float | None = None
    # How far the intervals were checked and where this mixture lies (model policies);
    # ``interval_note``: why they are withheld, or that they extrapolate (else None).
    reach: IntervalReach | None = None
    interval_note: str | None = None

    def weights(self, domains: tuple[str, ...] | list[str]) -> np.ndarray:
        return np.array([self.mixture[d] for d in domains])

    def to_dict(self) -> dict[str, Any]:
        return {"mixture": self.mixture, "predicted": self.predicted, "lower90": self.lower90,
                "upper90": self.upper90, "rung": self.rung,
                "n_observations": self.n_observations, "basis": self.basis,
                "run_lower90": self.run_lower90, "run_upper90": self.run_upper90,
                "interval_scale": self.interval_scale,
                "reach": None if self.reach is None else self.reach.to_dict(),
                "interval_note": self.interval_note,
                "intervals": "lower90/upper90: 90% for the mean objective at the target; "
                             "run_lower90/run_upper90: 90% for one new training run there"}


@dataclass(frozen=True)
class PolicySpec:
    """A policy by name with its validated options; ``label`` is how a user wrote it."""

    name: str
    options: PolicyOptions
    label: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``[policy]`` table that reads back to this spec (options at their values)."""
        return {"name": self.name, **self.options.model_dump(mode="json")}

    @property
    def display(self) -> str:
        return self.label or self.name


class Policy(ABC):
    """Proposes (mixture, rung) pairs and recommends a mixture at the target rung."""

    name: ClassVar[str]
    options_model: ClassVar[type[PolicyOptions]]
    needs_budget: ClassVar[bool] = False  # its decisions depend on the study budget
    uses_prior: ClassVar[bool] = False  # its model takes earlier studies' runs (warm start)

    def __init__(self, options: PolicyOptions, context: PolicyContext) -> None:
        self.options = options
        self.context = context

    @abstractmethod
    def propose(self, history: History, n: int) -> list[Candidate]:
        """Up to ``n`` new candidates, distinct from every trial used or in flight; fewer (or
        none) when the candidates run out."""

    @abstractmethod
    def recommend(self, history: History, *, interval: bool = True) -> Recommendation:
        """The best mixture at the target rung given ``history`` (at least one observation);
        ``interval=False`` may skip the interval where it costs extra (replay scores only the
        mixture)."""

    def predict(self, history: History, weights: np.ndarray) -> Recommendation | None:
        """The model's prediction at the target rung for ``weights``, with the same two
        intervals as a recommendation (basis "prediction"); None for a policy without a model."""
        return None

    def observe(self, history: History) -> None:  # noqa: B027 - an optional hook
        """Called after every completed result with the history that includes it. A policy
        whose model warm-starts from its last fit refits here, so that fitting history
        depends on the results alone: a recommendation asked for between results fits the
        model too, and would otherwise change the study's later proposals."""

    def state(self) -> dict[str, Any] | None:
        """A fitted model's state to persist with the study (None: nothing to keep)."""
        return None

    def restore(self, state: dict[str, Any]) -> None:  # noqa: B027 - an optional hook
        """Load what :meth:`state` returned (the study was saved after fitting it)."""

    # --- helpers shared by policies ----------------------------------------------------------

    @property
    def pool(self) -> CandidatePool:
        if self.context.pool is None:
            raise RuntimeError(f"policy {self.name!r} needs a candidate pool here")
        return self.context.pool

    def candidate_at(self, row: int, value: float | None = None) -> Candidate:
        return Candidate(self.pool.weights[row], int(self.pool.rung[row]), self.pool.ids[row],
                         value)

    def first_row(self, rows: np.ndarray) -> int:
        """The study's first pick among ``rows`` (drawn from the seed alone, so every policy
        starting at the same rung starts at the same row)."""
        return int(np.random.default_rng(self.context.seed).choice(rows))

    def open_rows_at(self, history: History, rung: int) -> np.ndarray:
        rows = self.pool.open_rows(history)
        return rows[self.pool.rung[rows] == rung]

    def recommendation(self, weights: np.ndarray, predicted: float, sd: float | None,
                       history: History, basis: str = "model", *,
                       run_sd: float | None = None, scale: float | None = None,
                       also: tuple[float, float, float] | None = None) -> Recommendation:
        """A :class:`Recommendation` at the target rung from oriented (max) values; ``sd`` is
        the mean's posterior sd, ``run_sd`` a new run's (already widened by ``scale``);
        ``also``: a second prediction (mean, sd, run_sd) that both intervals also span."""
        sign = -1.0 if self.context.minimize else 1.0

        def interval(spread: float | None, which: int) -> tuple[float | None, float | None]:
            if spread is None:
                return None, None
            spans = [(predicted, spread)] + ([(also[0], also[which])] if also else [])
            ends = [sign * (mean + side * Z90 * width) for mean, width in spans
                    for side in (-1.0, 1.0)]
            return float(min(ends)), float(max(ends))

        weights = self.context.space.project(np.asarray(weights, dtype=float))
        return Recommendation(self.context.space.as_dict(weights), sign * float(predicted),
                              *interval(sd, 1), self.context.rung_names[-1],
                              history.observations.n, basis, *interval(run_sd, 2), scale)


def with_pending(history: History, candidate: Candidate) -> History:
    """``history`` with ``candidate`` in flight: the next pick of a batch avoids it, and the
    trial counter (which seeds decisions) moves on by one."""
    return replace(
        history,
        pending_weights=np.vstack([history.pending_weights, candidate.weights[None, :]]),
        pending_rung=np.append(history.pending_rung, candidate.rung),
        pending_candidates=(*history.pending_candidates, candidate.candidate_id),
        used_points=history.used_points | {(mixture_key(candidate.weights), candidate.rung)},
        n_trials=history.n_trials + 1)


def propose_sequentially(history: History, n: int,
                         one: Callable[[History], Candidate | None]) -> list[Candidate]:
    """A batch built greedily: each pick sees the earlier ones as pending."""
    out: list[Candidate] = []
    for _ in range(n):
        candidate = one(history)
        if candidate is None:
            break
        out.append(candidate)
        history = with_pending(history, candidate)
    return out

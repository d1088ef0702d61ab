"""The evaluator protocol: who runs a trial is the only thing that differs between uses.

The one loop (:func:`admire.study.loop.run`) submits proposals and polls for outcomes. Live Ray
actors, a user's Python function, a team's own trainer and a table of recorded runs are each an
evaluator; the Study, its policy and its budget are the same for all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Proposal:
    """A trial to run: a mixture at a rung (and the pool row it came from, in pool mode).

    ``acquisition_per_cost`` is the value per unit cost that chose it; None for a designed
    point (a screen, a start point, a confirmation by posterior mean) or a random pick.
    """

    trial_index: int
    mixture: dict[str, float]
    rung: str
    fidelity: float
    candidate_id: str | None = None
    acquisition_per_cost: float | None = None


@dataclass(frozen=True)
class Outcome:
    """A finished trial: its metrics and cost, or the reason it failed."""

    trial_index: int
    metrics: Mapping[str, float] | None
    cost: float
    error: str | None = None
    seed: int | None = None
    attempts: int = 1
    covariates: Mapping[str, float] | None = None  # the pool's state (``pool:`` columns)

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class Evaluator(Protocol):
    """Runs trials: ``submit`` never blocks on the work, ``poll`` returns what finished."""

    @property
    def free(self) -> int:
        """How many more trials it can take now."""
        ...

    def submit(self, proposal: Proposal) -> None:
        """Start running ``proposal``."""
        ...

    def poll(self, timeout: float | None) -> list[Outcome]:
        """Trials that finished, waiting up to ``timeout`` seconds for the first one."""
        ...

    def expected_cost(self, proposal: Proposal) -> float | None:
        """The raw cost ``proposal`` will have, if this evaluator knows it (recorded runs do);
        None lets the study estimate it from its cost model."""
        ...

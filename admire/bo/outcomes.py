"""The outcomes a multi-objective study tracks: its objectives, then any metric it only
constrains, each with its direction and bounds (plain data: what a policy needs to know).

Values travel in the metric's own direction (``Observations.outcomes``, one column per metric in
:attr:`OutcomeSpec.metrics` order); a policy orients them with :attr:`OutcomeSpec.signs`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Bound:
    """An outcome constraint on metric column ``index``: ``lower <= value <= upper``."""

    index: int
    lower: float | None = None
    upper: float | None = None

    def feasible(self, values: np.ndarray) -> np.ndarray:
        """Mask over rows of ``values`` (n, m), in the metrics' own units."""
        column = values[:, self.index]
        ok = np.ones(len(column), dtype=bool)
        if self.lower is not None:
            ok &= column >= self.lower
        if self.upper is not None:
            ok &= column <= self.upper
        return ok


@dataclass(frozen=True)
class OutcomeSpec:
    """Objectives (the first ``n_objectives`` metrics) and constraints of a study."""

    metrics: tuple[str, ...]
    minimize: tuple[bool, ...]  # per metric (False for a metric that is only constrained)
    n_objectives: int
    bounds: tuple[Bound, ...] = ()

    @property
    def objectives(self) -> tuple[str, ...]:
        return self.metrics[:self.n_objectives]

    @property
    def signs(self) -> np.ndarray:
        """+1 to maximise, -1 to minimise, per metric: ``signs * values`` is to maximise."""
        return np.where(np.array(self.minimize), -1.0, 1.0)

    def feasible(self, values: np.ndarray) -> np.ndarray:
        """Mask over rows of ``values`` (n, m): every constraint holds."""
        values = np.atleast_2d(values)
        ok = np.ones(len(values), dtype=bool)
        for bound in self.bounds:
            ok &= bound.feasible(values)
        return ok

    def oriented_objectives(self, values: np.ndarray) -> np.ndarray:
        """The objective columns of ``values`` (n, m) oriented for maximisation (n, n_obj)."""
        values = np.atleast_2d(values)
        return values[:, :self.n_objectives] * self.signs[:self.n_objectives]

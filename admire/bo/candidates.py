"""Where proposals come from: a discrete pool of (mixture, rung) rows, or the continuous simplex.

In pool mode (replay, or a user's shortlist) a candidate is a row with an id; a row is proposed
at most once. In continuous mode candidates are drawn afresh for each decision: a Sobol set
for coverage, points near the current best prediction for refinement, and the most promising
mixtures already run (at the rungs where they have not run yet).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from admire.bo.history import History
from admire.space import MixtureSpace, mixture_ids

CONTINUOUS_SOBOL = 256  # Sobol mixtures scored per decision in continuous mode
LOCAL_CANDIDATES = 64  # mixtures drawn close to the current recommendation
LOCAL_CONCENTRATION = 200.0  # Dirichlet concentration around the recommendation
OBSERVED_CANDIDATES = 64  # best-predicted mixtures already run, kept as candidates
RECOMMENDATION_SOBOL = 1024  # Sobol mixtures a continuous recommendation considers


@dataclass(frozen=True)
class CandidatePool:
    """A discrete set of (mixture, rung) rows: a replay table's runs or a user's shortlist."""

    weights: np.ndarray  # (N, K)
    rung: np.ndarray  # (N,) rung index
    ids: tuple[str, ...]
    mixture_id: np.ndarray = field(init=False, repr=False)  # (N,) same mixture across rungs

    def __post_init__(self) -> None:
        if not (len(self.weights) == len(self.rung) == len(self.ids)):
            raise ValueError("pool weights, rungs and ids must have the same length")
        if len(set(self.ids)) != len(self.ids):
            raise ValueError("pool ids must be unique")
        object.__setattr__(self, "mixture_id", mixture_ids(self.weights))
        object.__setattr__(self, "_row_of", {cid: i for i, cid in enumerate(self.ids)})

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self, candidate_id: str) -> int:
        return self._row_of[candidate_id]  # type: ignore[attr-defined]

    def open_rows(self, history: History) -> np.ndarray:
        """Rows never proposed (in any trial, finished or not)."""
        used = history.used_candidates | {c for c in history.pending_candidates if c}
        return np.array([i for i, cid in enumerate(self.ids) if cid not in used], dtype=int)

    def rows_at(self, rung: int) -> np.ndarray:
        return np.flatnonzero(self.rung == rung)

    def has_row_at(self, rows: np.ndarray, rung: int) -> np.ndarray:
        """Mask over ``rows``: does the row's mixture also have a row at ``rung``?"""
        return np.isin(self.mixture_id[rows], self.mixture_id[self.rung == rung])

    def mixtures_at(self, rung: int) -> np.ndarray:
        """Distinct mixtures with a row at ``rung`` (every mixture if the rung has none)."""
        at = self.weights[self.rung == rung]
        return np.unique(at if len(at) else self.weights, axis=0)


Predict = Callable[[np.ndarray], np.ndarray]  # posterior mean at the target rung
Seeder = Callable[..., int]  # seed(*parts): a reproducible seed per decision


def continuous_mixtures(space: MixtureSpace, history: History, seed: Seeder,
                        centre: np.ndarray, predict_target: Predict) -> np.ndarray:
    """Mixtures scored for one continuous-mode decision (fresh Sobol, local, best seen)."""
    n = history.n_trials
    rng = np.random.default_rng(seed("local", n))
    sobol = space.sobol(CONTINUOUS_SOBOL, seed=seed("cand", n))
    local = space.project(rng.dirichlet(LOCAL_CONCENTRATION * centre + 0.05,
                                        size=LOCAL_CANDIDATES))
    # Mixtures already run stay candidates (for other rungs), but only the most promising:
    # all of them would make a step grow with the number of observations.
    seen = np.unique(history.observations.weights, axis=0)
    if len(seen) > OBSERVED_CANDIDATES:
        seen = seen[np.argsort(-predict_target(seen))[:OBSERVED_CANDIDATES]]
    return np.unique(np.concatenate([seen, sobol, local]), axis=0)


def recommendation_mixtures(space: MixtureSpace, history: History, seed: int) -> np.ndarray:
    """Mixtures a continuous-mode recommendation is chosen from: those run, plus Sobol."""
    sobol = space.sobol(RECOMMENDATION_SOBOL, seed=seed)
    return np.unique(np.concatenate([history.observations.weights, sobol]), axis=0)

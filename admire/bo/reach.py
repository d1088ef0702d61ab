"""How far a study's 90% intervals were checked, and whether a mixture lies within that.

An interval is widened by the leave-one-out z-scores of the study's own target runs
(:meth:`MixtureSurrogate.interval_scale`). That check says nothing about an interval with too
few target runs to check it on, nor about a mixture farther from every target run than any
left-out run was from the rest. In replay (5 problems, 10 seeds), intervals held 29-80% of new
runs at unrun mixtures with one target run and 71-90% with four
(bench/results/calibration_budget2.md, calibration_budget5.md); with 17, 0.83-0.99 within the
checked distance and 0.59-0.95 beyond it (bench/results/calibration.md). So intervals are
withheld until they can be checked, and a prediction beyond the checked distance says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from admire.bo.history import Observations
from admire.bo.surrogate import MIN_LOO


@dataclass(frozen=True)
class IntervalReach:
    """``target_runs``: runs at the target rung; ``checked``: the farthest any distinct target
    mixture is from its nearest other one (how far a left-out run was predicted from; None
    with fewer than two); ``nearest``: the mixture's distance to the nearest target mixture
    (None without any). Distances are Euclidean between weight vectors."""

    target_runs: int
    checked: float | None
    nearest: float | None

    @property
    def calibrated(self) -> bool:
        """Enough target runs for the intervals' scale to rest on the target rung alone."""
        return self.target_runs >= MIN_LOO

    @property
    def extrapolates(self) -> bool:
        """Farther from every target run than any leave-one-out check reached."""
        return self.nearest is not None and self.nearest > (self.checked or 0.0)

    def note(self) -> str | None:
        """Why the intervals are withheld, or what they do not cover; None when neither."""
        if not self.calibrated:
            return withheld_note(self.target_runs)
        if self.extrapolates:
            return (f"extrapolation: this mixture is {self.nearest:.3g} from the nearest "
                    f"target run, farther than the intervals were checked "
                    f"({0.0 if self.checked is None else self.checked:.3g}); such intervals "
                    "held 59-95% of new runs in replay, not 90% "
                    "(bench/results/calibration.md): read it as a ranking")
        return None

    def to_dict(self) -> dict[str, object]:
        return {"target_runs": self.target_runs, "checked_distance": self.checked,
                "nearest_target_run": self.nearest, "calibrated": self.calibrated,
                "extrapolates": self.extrapolates}


def withheld_note(target_runs: int) -> str | None:
    """Why a study with ``target_runs`` runs at the target rung shows no 90% interval (None
    once it has enough to check one on)."""
    if target_runs >= MIN_LOO:
        return None
    return (f"no 90% interval yet: the study has {target_runs} run(s) at the target rung and "
            f"an interval is checked on at least {MIN_LOO}; with 1 to 4, intervals held as "
            "little as 29% of new runs in replay (bench/results/calibration_budget2.md)")


def interval_reach(observations: Observations, weights: np.ndarray, target: int
                   ) -> IntervalReach:
    """The reach of the intervals at ``target`` for the mixture ``weights`` (K,)."""
    at_target = observations.weights[observations.rung == target]
    mixtures = np.unique(at_target, axis=0) if len(at_target) else at_target
    nearest = (float(_distances(np.asarray(weights, dtype=float)[None, :], mixtures).min())
               if len(mixtures) else None)
    checked = None
    if len(mixtures) >= 2:
        apart = _distances(mixtures, mixtures)
        np.fill_diagonal(apart, np.inf)
        checked = float(apart.min(axis=1).max())
    return IntervalReach(len(at_target), checked, nearest)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

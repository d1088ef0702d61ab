"""A surrogate kept fitted as a study grows: hyperparameters refitted on a schedule, on a bounded
subset; between refits the model is rebuilt on every observation with the last hyperparameters.

Hyperparameters move little once a study has data, while a fit costs hundreds of likelihood
evaluations: refitting only when the data grew by :data:`REFIT_GROWTH` (overall, or at the
target rung, whose few runs matter most), or a rung saw its first run, keeps a BO step under a
second at thousands of observations. A rebuild with fixed hyperparameters is the exact GP
posterior on all the data. The schedule depends on the data alone, and is saved with the state,
so a study rebuilt from storage makes the same fits.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import torch

from admire.bo.history import Observations
from admire.bo.seeding import derive_seed
from admire.bo.surrogate import MixtureSurrogate, TrainingData

REFIT_GROWTH = 0.2  # refit once the observations (or the target's) grew by this share
FIT_SUBSET = 300  # hyperparameters are fitted on at most this many observations


def data_key(obs: Observations) -> str:
    """Fingerprint of the observations; float32 so a JSON round trip (last-bit changes) of the
    experiment keeps the key."""
    return hashlib.sha256(obs.weights.astype(np.float32).tobytes() + obs.rung.tobytes()
                          + obs.y.astype(np.float32).tobytes()).hexdigest()


def _grew(now: int, then: int) -> bool:
    return now >= then + max(1, math.ceil(REFIT_GROWTH * then))


class SurrogateFit:
    """Owns one :class:`MixtureSurrogate` and keeps it fitted to the observations."""

    def __init__(self, surrogate: MixtureSurrogate, rung_fidelity: tuple[float, ...],
                 seed: int) -> None:
        self.surrogate = surrogate
        self.rung_fidelity = rung_fidelity
        self.seed = seed
        self._key: str | None = None
        self._restored_key: str | None = None
        self._fitted: dict[str, Any] | None = None  # n, n at the target, rungs at the last fit

    @property
    def target(self) -> int:
        return len(self.rung_fidelity) - 1

    def due(self, obs: Observations) -> bool:
        """Whether the hyperparameters need a refit for ``obs``."""
        if self._fitted is None:
            return True
        n_target = int((obs.rung == self.target).sum())
        return (sorted(set(obs.rung.tolist())) != self._fitted["rungs"]
                or _grew(obs.n, self._fitted["n"]) or _grew(n_target, self._fitted["n_target"]))

    def fit(self, obs: Observations) -> MixtureSurrogate:
        """The surrogate conditioned on ``obs`` (refitted when the schedule says so)."""
        if obs.n == 0:
            raise ValueError("cannot fit a surrogate without observations")
        key = data_key(obs)
        if key == self._key:
            return self.surrogate
        data = TrainingData(obs.weights, obs.rung, obs.y, self.rung_fidelity)
        optimize = self.due(obs) and key != self._restored_key
        # BoTorch may restart a failed fit from random points drawn with torch's global
        # generator: seed it from the data so a fit never depends on process history.
        with torch.random.fork_rng():
            torch.manual_seed(derive_seed(self.seed, "fit", obs.n))
            self.surrogate.fit(data, optimize=optimize, fit_data=self._subset(data))
        if optimize:
            self._fitted = {"n": obs.n, "n_target": int((obs.rung == self.target).sum()),
                            "rungs": sorted(set(obs.rung.tolist()))}
        self._key, self._restored_key = key, None
        return self.surrogate

    def _subset(self, data: TrainingData) -> TrainingData:
        """Every target-rung observation and a seeded sample of the rest, at most
        :data:`FIT_SUBSET` in all (the hyperparameters' fit, not the posterior)."""
        if data.n <= FIT_SUBSET:
            return data
        target = np.flatnonzero(data.rung == self.target)
        others = np.flatnonzero(data.rung != self.target)
        room = max(FIT_SUBSET - len(target), FIT_SUBSET // 2)
        rng = np.random.default_rng(derive_seed(self.seed, "subset", data.n))
        keep = np.sort(np.concatenate([target[-FIT_SUBSET:],
                                       rng.choice(others, size=min(room, len(others)),
                                                  replace=False)]))
        return TrainingData(data.weights[keep], data.rung[keep], data.y[keep],
                            data.rung_fidelity)

    def state(self) -> dict[str, Any] | None:
        """Hyperparameters, the data key they were last conditioned on, and the fit schedule."""
        state = self.surrogate.state()
        if state is None:
            return None
        return {"fit_key": self._key, "state": state, "fitted": self._fitted}

    def restore(self, saved: dict[str, Any]) -> None:
        self.surrogate.restore(saved["state"])
        self._key, self._restored_key = None, saved["fit_key"]
        self._fitted = saved.get("fitted")

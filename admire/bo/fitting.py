"""A surrogate kept fitted as a study grows, on a schedule that depends on the data alone.

* The posterior is refreshed (the GP rebuilt on every observation, an exact posterior) when a
  target-rung result arrives, or the observations grew by :data:`REFRESH_GROWTH`: a thousand
  cheap screens do not need a thousand O(n^3) rebuilds, each moving the prediction by a
  thousandth.
* The hyperparameters are refitted, on at most :data:`FIT_SUBSET` observations, when the data
  grew by :data:`REFIT_GROWTH` (:data:`TARGET_REFIT_GROWTH` at the target rung, whose few runs
  matter most) or a rung saw its first run: they move little once a study has data, while a
  fit costs hundreds of likelihood evaluations.

The schedule is saved with the state, so a study rebuilt from storage rebuilds exactly the
model the saved one had, and makes the same next proposal.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from admire.bo.history import Observations
from admire.bo.prior import PriorRuns
from admire.bo.seeding import derive_seed, torch_seeded
from admire.bo.surrogate import MixtureSurrogate, TrainingData

REFRESH_GROWTH = 0.05  # rebuild the posterior once the observations grew by this share
REFIT_GROWTH = 0.5  # refit the hyperparameters once the observations grew by this share
TARGET_REFIT_GROWTH = 0.2  # ... or the target rung's observations grew by this share
FIT_SUBSET = 300  # hyperparameters are fitted on at most this many observations


def data_key(obs: Observations) -> str:
    """Fingerprint of the observations; float32 so a JSON round trip (last-bit changes) of the
    experiment keeps the key."""
    return hashlib.sha256(obs.weights.astype(np.float32).tobytes() + obs.rung.tobytes()
                          + obs.y.astype(np.float32).tobytes()).hexdigest()


def _grew(now: int, then: int, share: float) -> bool:
    return now >= then + max(1, math.ceil(share * then))


def _prefix(obs: Observations, n: int) -> Observations:
    return Observations(obs.weights[:n], obs.rung[:n], obs.y[:n], obs.cost[:n])


class SurrogateFit:
    """Owns one :class:`MixtureSurrogate` and keeps it fitted to the observations."""

    def __init__(self, surrogate: MixtureSurrogate, rung_fidelity: tuple[float, ...],
                 seed: int, prior: PriorRuns | None = None) -> None:
        self.surrogate = surrogate
        self.prior = prior  # earlier studies' runs: extra tasks, in every fit
        self.rung_fidelity = rung_fidelity
        self.seed = seed
        self._key: str | None = None  # of the observations the posterior is conditioned on
        self._n = 0  # how many (a prefix of the study's observations, in trial order)
        self._restored_key: str | None = None
        self._fitted: dict[str, Any] | None = None  # n, n at the target, rungs at the last fit

    @property
    def target(self) -> int:
        return len(self.rung_fidelity) - 1

    def n_target(self, obs: Observations) -> int:
        return int((obs.rung == self.target).sum())

    def due(self, obs: Observations) -> bool:
        """Whether the hyperparameters need a refit for ``obs``."""
        if self._fitted is None:
            return True
        return (sorted(set(obs.rung.tolist())) != self._fitted["rungs"]
                or _grew(obs.n, self._fitted["n"], REFIT_GROWTH)
                or _grew(self.n_target(obs), self._fitted["n_target"], TARGET_REFIT_GROWTH))

    def _current(self, obs: Observations) -> bool:
        """Whether the posterior conditioned on the first ``self._n`` observations still
        serves ``obs``: they are its prefix, no target result came since, and fewer new
        observations than :data:`REFRESH_GROWTH` of them."""
        if self._n == 0 or obs.n < self._n or _grew(obs.n, self._n, REFRESH_GROWTH):
            return False
        prefix = _prefix(obs, self._n)
        return self.n_target(prefix) == self.n_target(obs) and data_key(prefix) in (
            self._key, self._restored_key)

    def fit(self, obs: Observations) -> MixtureSurrogate:
        """The surrogate conditioned on ``obs`` (or on a recent prefix of it, see the module's
        schedule; hyperparameters refitted when it says so)."""
        if obs.n == 0 and self.prior is None:
            raise ValueError("cannot fit a surrogate without observations")
        if self._current(obs):
            if self.surrogate.model is not None and self._restored_key is None:
                return self.surrogate
            obs = _prefix(obs, self._n)  # rebuild exactly the model that was saved
        key = data_key(obs)
        if key == self._key and self.surrogate.model is not None:
            return self.surrogate
        data = (TrainingData(obs.weights, obs.rung, obs.y, self.rung_fidelity)
                if self.prior is None else self.prior.training_data(obs, self.rung_fidelity))
        optimize = self.due(obs) and key != self._restored_key
        with torch_seeded(derive_seed(self.seed, "fit", obs.n)):
            self.surrogate.fit(data, optimize=optimize, fit_data=self._subset(data))
        if optimize:
            self._fitted = {"n": obs.n, "n_target": self.n_target(obs),
                            "rungs": sorted(set(obs.rung.tolist()))}
        self._key, self._n, self._restored_key = key, obs.n, None
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
                            data.rung_fidelity,
                            None if data.context is None else data.context[keep])

    def state(self) -> dict[str, Any] | None:
        """Hyperparameters, the data key they were last conditioned on, and the fit schedule."""
        state = self.surrogate.state()
        if state is None:
            return None
        return {"fit_key": self._key, "n": self._n, "state": state, "fitted": self._fitted}

    def restore(self, saved: dict[str, Any]) -> None:
        self.surrogate.restore(saved["state"])
        self._key, self._restored_key = None, saved["fit_key"]
        self._n, self._fitted = int(saved.get("n", 0)), saved.get("fitted")

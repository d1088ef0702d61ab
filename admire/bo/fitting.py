"""A surrogate refitted only when its data changed: warm-started, seeded, and restorable.

The fit is keyed by the data it saw. A state restored from storage was fitted on exactly the
saved data, so it is loaded as is (no optimisation) and predicts exactly as before the restart.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from admire.bo.history import Observations
from admire.bo.seeding import derive_seed
from admire.bo.surrogate import MixtureSurrogate, TrainingData


def data_key(obs: Observations) -> str:
    """Fingerprint of the observations; float32 so a JSON round trip (last-bit changes) of the
    experiment keeps the key."""
    return hashlib.sha256(obs.weights.astype(np.float32).tobytes() + obs.rung.tobytes()
                          + obs.y.astype(np.float32).tobytes()).hexdigest()


class SurrogateFit:
    """Owns one :class:`MixtureSurrogate` and refits it when the observations change."""

    def __init__(self, surrogate: MixtureSurrogate, rung_fidelity: tuple[float, ...],
                 seed: int) -> None:
        self.surrogate = surrogate
        self.rung_fidelity = rung_fidelity
        self.seed = seed
        self._key: str | None = None
        self._restored_key: str | None = None

    def fit(self, obs: Observations) -> MixtureSurrogate:
        """The surrogate fitted on ``obs`` (refitted only if ``obs`` changed)."""
        if obs.n == 0:
            raise ValueError("cannot fit a surrogate without observations")
        key = data_key(obs)
        if key != self._key:
            data = TrainingData(obs.weights, obs.rung, obs.y, self.rung_fidelity)
            # BoTorch may restart a failed fit from random points drawn with torch's global
            # generator: seed it from the data so a fit never depends on process history.
            with torch.random.fork_rng():
                torch.manual_seed(derive_seed(self.seed, "fit", obs.n))
                self.surrogate.fit(data, optimize=key != self._restored_key)
            self._key, self._restored_key = key, None
        return self.surrogate

    def state(self) -> dict[str, Any] | None:
        """Hyperparameters and the data key they were fitted on (to persist)."""
        state = self.surrogate.state()
        return None if state is None else {"fit_key": self._key, "state": state}

    def restore(self, saved: dict[str, Any]) -> None:
        self.surrogate.restore(saved["state"])
        self._key, self._restored_key = None, saved["fit_key"]

"""Training data shaped like a study's, shared by the surrogate tests."""

import numpy as np

from admire.bo.surrogate import TrainingData

EFFECT = np.array([0.9, -0.4, 0.3, 0.0, -0.2, 0.5, 0.1, -0.6])


def confirmed_cluster(seed: int, target_scale: float) -> TrainingData:
    """A screen-confirm study's shape: cheap runs over the simplex plus a cluster of mixtures
    screened cheaply and then confirmed at the target, where the objective is
    ``0.1 + target_scale * f`` (f the cheap rung's)."""
    rng = np.random.default_rng(seed)
    spread = rng.dirichlet(np.ones(len(EFFECT)), size=30)
    centre = np.full(len(EFFECT), 0.05) + 0.6 * (np.arange(len(EFFECT)) == 0)
    confirmed = rng.dirichlet(60 * centre, size=10)
    weights = np.concatenate([spread, confirmed, confirmed])
    rung = np.repeat([0, 0, 1], [30, 10, 10])
    f = weights @ EFFECT
    y = np.where(rung == 1, 0.1 + target_scale * f, f) + rng.normal(0, 0.01, len(rung))
    return TrainingData(weights, rung, y, (0.1, 1.0))

"""Surrogate options: each kernel and input scale fits and ranks a known mixture effect."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from admire.bo.surrogate import KERNELS, MixtureSurrogate, TrainingData

EFFECT = np.array([0.9, -0.4, 0.3, 0.0, -0.2, 0.5, 0.1, -0.6])


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(len(EFFECT)), size=n)
    return weights, weights @ EFFECT + rng.normal(0, 0.01, n)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("scaled", [False, True])
def test_each_kernel_ranks_held_out_mixtures_at_the_target(kernel, scaled):
    weights, y = _data(40, seed=0)
    rung = np.repeat([0, 1], 20)
    bounds = (weights.min(axis=0), weights.max(axis=0)) if scaled else None
    surrogate = MixtureSurrogate("icm", kernel=kernel, weight_bounds=bounds).fit(
        TrainingData(weights, rung, y + 0.2 * rung, (0.0, 1.0)))
    test_w, test_y = _data(30, seed=1)
    mean, var = surrogate.predict(test_w, 1)
    assert spearmanr(mean, test_y)[0] > 0.8
    assert (var > 0).all()


def test_linear_kernel_is_only_wired_for_the_icm_surrogate():
    with pytest.raises(ValueError, match="kernel 'linear'"):
        MixtureSurrogate("mfgp", kernel="linear")
    with pytest.raises(ValueError, match="kernel 'cubic'"):
        MixtureSurrogate("icm", kernel="cubic")


@pytest.mark.parametrize("kind", ["icm", "mfgp"])
def test_noise_variance_is_the_gap_between_the_predictive_and_latent_variance(kind):
    rng = np.random.default_rng(3)
    w = rng.dirichlet(np.ones(4), size=60)
    rung = rng.choice(3, size=60)
    y = 0.3 + 0.1 * rung - np.sum((w - 0.25) ** 2, axis=1) + rng.normal(0, 0.01, 60)
    surrogate = MixtureSurrogate(kind).fit(TrainingData(w, rung, y, (0.1, 0.4, 1.0)))
    points, rungs = rng.dirichlet(np.ones(4), size=9), np.arange(9) % 3
    _, latent = surrogate.predict(points, rungs)
    _, observed = surrogate.predict(points, rungs, observation_noise=True)
    assert np.allclose(surrogate.noise_variance(points, rungs), observed - latent, rtol=1e-6)


def _two_rung_data(seed: int, outliers: int = 0) -> TrainingData:
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(len(EFFECT)), size=30)
    weights = np.concatenate([weights, weights[:15]])  # 15 mixtures run at both rungs
    rung = np.repeat([0, 1], [30, 15])
    y = weights @ EFFECT + 0.1 * rung + rng.normal(0, 0.02, len(rung))
    y[30:30 + outliers] += 0.5  # target runs far from what the model can explain
    return TrainingData(weights, rung, y, (0.1, 1.0))


def test_leave_one_mixture_out_z_scores_have_unit_spread_when_the_model_fits():
    surrogate = MixtureSurrogate("icm").fit(_two_rung_data(0))
    z = surrogate.loo_z(1)
    assert len(z) == 15
    assert 0.4 < np.std(z) < 2.0
    assert surrogate.interval_scale(1) < 2.0


def test_interval_scale_widens_when_held_out_runs_miss_the_model():
    fitted = MixtureSurrogate("icm").fit(_two_rung_data(0)).interval_scale(1)
    missed = MixtureSurrogate("icm").fit(_two_rung_data(0, outliers=3))
    assert fitted >= 1.0
    assert missed.interval_scale(1) > 1.2 * fitted
    assert set(np.argsort(-missed.loo_z(1))[:2]) <= {0, 1, 2}  # the outliers stand out

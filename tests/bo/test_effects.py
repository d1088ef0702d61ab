"""Effects, interactions and LOO predictions of a fitted surrogate, against a known function:
linear in the weights plus one planted interaction, seen at two rungs with noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from admire.bo import effects as fx
from admire.bo.surrogate import MixtureSurrogate, TrainingData
from admire.space import MixtureSpace

K = 5
SLOPES = np.array([0.0, 1.0, 2.0, -1.0, -2.0])
PAIR = (1, 2)
STRENGTH = 8.0
NOISE = 0.05


def truth(w: np.ndarray) -> np.ndarray:
    w = np.atleast_2d(w)
    return w @ SLOPES + STRENGTH * w[:, PAIR[0]] * w[:, PAIR[1]]


@pytest.fixture(scope="module")
def fitted() -> MixtureSurrogate:
    rng = np.random.default_rng(0)
    cheap = rng.dirichlet(np.ones(K), size=80)
    target = cheap[:50]
    y = np.concatenate([0.5 * truth(cheap) + 1.0 + NOISE * rng.standard_normal(len(cheap)),
                        truth(target) + NOISE * rng.standard_normal(len(target))])
    rung = np.concatenate([np.zeros(len(cheap), dtype=int), np.ones(len(target), dtype=int)])
    torch.manual_seed(0)
    return MixtureSurrogate("icm").fit(TrainingData(np.vstack([cheap, target]), rung, y,
                                                    (0.1, 1.0)))


def bases() -> np.ndarray:
    return MixtureSpace(tuple(f"d{i}" for i in range(K)), (0.0,) * K, (1.0,) * K).sobol(32, 0)


def test_directions_move_weight_onto_the_domain_and_stay_on_the_simplex() -> None:
    x = np.array([0.5, 0.3, 0.2, 0.0, 0.0])
    u = fx.directions(x)
    assert np.allclose(u.sum(axis=1), 0.0)
    assert np.allclose(np.diag(u), 1.0)
    moved = x + 0.1 * u[3]
    assert np.isclose(moved[3], 0.1) and np.allclose(moved[:3] / moved[:3].sum(), x[:3])
    assert np.allclose(fx.directions(np.array([1.0, 0.0]))[0], 0.0)  # nowhere to move from


def test_effects_recover_sign_ranking_and_are_covered(fitted: MixtureSurrogate) -> None:
    points = bases()
    want = fx.true_effects(truth, points)
    got = fx.effects(fitted, points, 1, scale=fitted.interval_scale(1), conservative=True)
    assert got.joint_sd is not None and np.all(got.sd >= got.joint_sd)
    assert np.array_equal(np.sign(got.mean[np.abs(want) > 0.02]),
                          np.sign(want[np.abs(want) > 0.02]))
    assert spearmanr(got.mean, want).statistic >= 0.9
    covered = (got.lower90 <= want) & (want <= got.upper90)
    assert covered.sum() >= K - 1, (got.mean, got.sd, want)
    # Around one mixture too, less sure than the joint posterior of the average.
    x = np.array([0.3, 0.2, 0.2, 0.2, 0.1])
    one = fx.effects(fitted, x, 1)
    assert spearmanr(one.mean, fx.true_effects(truth, x)).statistic >= 0.8
    assert one.joint_sd is None and one.sd.mean() > got.joint_sd.mean()


def test_the_planted_pair_is_the_largest_interaction(fitted: MixtureSurrogate) -> None:
    got = fx.interactions(fitted, bases()[:16], 1, conservative=True)
    assert got.joint_sd is not None and np.all(got.sd >= got.joint_sd - 1e-12)
    assert np.allclose(got.mean, got.mean.T) and np.allclose(np.diag(got.mean), 0.0)
    i, j = np.triu_indices(K, 1)
    top = int(np.argmax(np.abs(got.mean[i, j])))
    assert {int(i[top]), int(j[top])} == set(PAIR)
    assert got.mean[PAIR] > 0 and got.clear[PAIR]


def test_loo_predictions_share_loo_z_factorisation(fitted: MixtureSurrogate) -> None:
    loo = fx.loo_predictions(fitted, 1)
    assert fitted.data is not None
    assert np.array_equal(loo.index, np.flatnonzero(fitted.data.rung == 1))
    z = (fitted.data.y[loo.index] - loo.mean) / loo.sd
    assert np.allclose(z, fitted.loo_z(1), atol=1e-8)
    assert np.corrcoef(loo.mean, truth(fitted.data.weights[loo.index]))[0, 1] > 0.9

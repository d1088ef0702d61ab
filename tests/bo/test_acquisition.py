"""The knowledge gradient against closed forms, and the best prediction at the target."""

import numpy as np
import pytest
import torch
from scipy.stats import norm

from admire.bo import acquisition
from admire.bo.surrogate import MixtureSurrogate, TrainingData


def _two_line_expected_max(a1: float, b1: float, a2: float, b2: float) -> float:
    """E[max(a1 + b1 Z, a2 + b2 Z)]: a1 + E[max(0, D)], D ~ N(a2 - a1, (b2 - b1)^2)."""
    mu, sd = a2 - a1, abs(b2 - b1)
    return a1 + mu * norm.cdf(mu / sd) + sd * norm.pdf(mu / sd)


@pytest.mark.parametrize("a2,b1,b2", [(0.3, 0.2, 1.0), (-0.5, -0.4, 0.7), (0.0, 1.5, -1.5)])
def test_expected_max_of_lines_matches_the_closed_form(a2, b1, b2):
    a = torch.tensor([[0.1, a2]], dtype=torch.float64)
    b = torch.tensor([[b1, b2]], dtype=torch.float64)
    got = float(acquisition._expected_max_of_lines(a, b)[0])
    # Gauss-Hermite on a kinked integrand: within 1.5% of the exact value.
    assert got == pytest.approx(_two_line_expected_max(0.1, b1, a2, b2), rel=0.015)


def _surrogate(seed: int = 0) -> tuple[MixtureSurrogate, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(3), size=24)
    rung = np.repeat([0, 1], 12)
    y = weights @ np.array([1.0, 0.2, -0.5]) + 0.3 * rung + rng.normal(0, 0.02, 24)
    surrogate = MixtureSurrogate("icm", kernel="linear+rbf").fit(
        TrainingData(weights, rung, y, (0.0, 1.0)))
    return surrogate, weights


def test_recommendable_kg_of_a_target_run_is_its_expected_improvement_with_the_contenders():
    surrogate, weights = _surrogate()
    observed = weights[12:14]
    candidate = np.array([[0.7, 0.2, 0.1]])
    got = acquisition.knowledge_gradient(surrogate, candidate, np.array([1]), observed, 1,
                                         candidates_recommendable=True)[0]
    # Monte Carlo of the same quantity: draw y(candidate), update the three posterior means.
    mean, cov = surrogate.joint(np.concatenate([observed, candidate]), 1)
    noise = surrogate.noise_variance(candidate, 1)[0]
    sd_y = float(np.sqrt(cov[-1, -1] + noise))
    z = np.random.default_rng(1).standard_normal(400_000)
    slopes = cov[:, -1].numpy() / sd_y
    after = mean.numpy()[None, :] + slopes[None, :] * z[:, None]
    expected = after.max(axis=1).mean() - float(mean[:2].max())
    assert got > 0
    assert got == pytest.approx(expected, rel=0.03)


def test_a_cheap_run_adds_no_contender_under_the_recommendable_rule():
    surrogate, weights = _surrogate()
    observed = weights[12:14]
    candidate = np.array([[0.7, 0.2, 0.1], [0.7, 0.2, 0.1]])
    kg = acquisition.knowledge_gradient(surrogate, candidate, np.array([0, 1]), observed, 1,
                                        candidates_recommendable=True)
    plain = acquisition.knowledge_gradient(surrogate, candidate[:1], np.array([0]), observed, 1)
    assert kg[0] == pytest.approx(plain[0], abs=1e-12)  # only what it teaches about the two
    assert kg[1] > kg[0]


def test_best_predicted_is_the_argmax_of_the_mean_or_of_the_cautious_bound():
    surrogate, weights = _surrogate()
    candidates = weights[12:]
    mean, var = surrogate.predict(candidates, 1)
    i, best_mean, sd = acquisition.best_predicted(surrogate, candidates, 1)
    assert i == int(np.argmax(mean)) and best_mean == pytest.approx(mean.max())
    assert sd == pytest.approx(float(np.sqrt(var[i])))
    j, _, _ = acquisition.best_predicted(surrogate, candidates, 1, caution=2.0)
    assert j == int(np.argmax(mean - 2.0 * np.sqrt(var)))

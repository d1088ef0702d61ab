"""The mixing law's derivatives, its planted optimum and the independent solver agree."""

from __future__ import annotations

import numpy as np
import pytest

from admire.problems.mixing_law import draw_law, kkt, minimize_law, plant, project_simplex


def _law(k: int, n_harmful: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    harmful = np.zeros(k, dtype=bool)
    harmful[rng.choice(k, n_harmful, replace=False)] = True
    law = draw_law(k, rng, harmful)
    margin = np.full(k, 0.05)
    tilted, planted = plant(law, harmful, 0.05 / (k - n_harmful), margin)
    return tilted, planted, harmful, margin


def test_gradient_and_hessian_match_finite_differences():
    law, _, _, _ = _law(7, 2)
    w = np.random.default_rng(1).dirichlet(np.ones(7))
    eps = 1e-6
    basis = np.eye(7)
    fd_grad = np.array([(law.value(w + eps * e) - law.value(w - eps * e)) / (2 * eps)
                        for e in basis])
    fd_hess = np.array([(law.gradient(w + eps * e) - law.gradient(w - eps * e)) / (2 * eps)
                        for e in basis])
    np.testing.assert_allclose(law.gradient(w), fd_grad, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(law.hessian(w), fd_hess, rtol=1e-5, atol=1e-6)
    assert np.all(np.linalg.eigvalsh(law.hessian(w)) > 0)


@pytest.mark.parametrize(("k", "n_harmful"), [(3, 0), (12, 0), (12, 4), (40, 10)])
def test_planted_optimum_is_the_solvers_and_meets_kkt(k, n_harmful):
    law, planted, harmful, margin = _law(k, n_harmful, seed=k)
    rng = np.random.default_rng(5)
    found = minimize_law(law, np.vstack([np.full(k, 1 / k), rng.dirichlet(np.ones(k), 2)]))
    np.testing.assert_allclose(found.weights, planted, atol=1e-7)
    stationarity, dual = kkt(law, planted)
    assert stationarity < 1e-8
    assert np.all(planted[harmful] == 0.0)
    assert np.all(planted[~harmful] >= 0.05 / (k - n_harmful) * (1 - 1e-6))
    if n_harmful:
        grad = law.gradient(planted)
        mu = float(grad[~harmful] @ planted[~harmful])
        assert np.all(grad[harmful] - mu >= margin[harmful] * (1 - 1e-6))
        assert dual < 0
    else:
        assert dual == -np.inf


def test_project_simplex_is_the_closest_point():
    rng = np.random.default_rng(0)
    for _ in range(50):
        v = rng.normal(size=6)
        p = project_simplex(v)
        assert abs(p.sum() - 1) < 1e-12 and np.all(p >= 0)
        others = rng.dirichlet(np.full(6, 0.3), size=2000)
        assert np.linalg.norm(v - p) <= np.min(np.linalg.norm(others - v, axis=1)) + 1e-12

"""Synthetic pool states: repeated tokens are worth less, a large pool recovers the base law,
and the optimum under a pool is the best mixture under it."""

from __future__ import annotations

import numpy as np
import pytest

from admire.errors import ValidationError
from admire.problems.pool_states import effective_weights, with_pool
from admire.problems.synthetic import SyntheticSpec, generate


def test_effective_weights_discount_only_repeated_tokens():
    w = np.array([[0.5, 0.3, 0.2]])
    pool = np.array([100.0, 1000.0, 10.0])
    eff = effective_weights(w, pool, 1000, half_life=4.0)[0]
    assert eff[1] == pytest.approx(0.3)  # 300 of 1000 tokens: no repeat
    assert eff[0] < 0.5 and eff[2] < eff[0] / 2.5  # 5 and 20 epochs: diminishing returns
    assert eff[0] == pytest.approx((100 + 100 * 4 * (1 - np.exp(-4 / 4))) / 1000)
    more = effective_weights(np.array([[1.0, 0.0, 0.0]]), pool, 1000)[0, 0]
    assert more > eff[0]  # more draws are still worth something


@pytest.fixture(scope="module")
def pooled():
    problem = generate(SyntheticSpec(k=4, rows_per_rung=(30, 20), rank_corr=0.8), seed=3)
    return with_pool(problem, 3)


def test_a_huge_pool_is_the_base_law_and_a_small_one_moves_the_optimum(pooled):
    w = np.random.default_rng(0).dirichlet(np.ones(4), 50)
    last = len(pooled.rung_tokens) - 1
    huge = pooled.pool(1e6)
    assert np.allclose(pooled.truth(w, last, huge), pooled.problem.truth(w))
    small = pooled.pool(0.05)
    assert np.all(pooled.truth(w, last, small) >= pooled.truth(w, last, huge) - 1e-12)
    w_small, v_small = pooled.optimum(small)
    assert v_small <= pooled.truth(pooled.problem.optimum_weights, last, small)[0] + 1e-12
    assert v_small <= pooled.truth(w, last, small).min() + 1e-12
    assert w_small.sum() == pytest.approx(1.0)
    with pytest.raises(ValidationError, match="pool sizes"):
        pooled.pool(-1.0)

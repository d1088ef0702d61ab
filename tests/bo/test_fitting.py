"""The surrogate's schedule: refresh on target results and growth, refit on larger growth, and a
restored fit rebuilds exactly the model that was saved."""

from __future__ import annotations

import numpy as np
import pytest

from admire.bo import fitting
from admire.bo.fitting import SurrogateFit
from admire.bo.history import Observations
from admire.bo.surrogate import MixtureSurrogate

RUNGS = (0.1, 1.0)


def observations(n: int, target_every: int = 0, seed: int = 0) -> Observations:
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(4), size=n)
    rung = np.zeros(n, dtype=int)
    if target_every:
        rung[::target_every] = 1
    y = 0.3 + 0.2 * rung - np.sum((w - 0.25) ** 2, axis=1) + rng.normal(0, 0.01, n)
    return Observations(w, rung, y, np.where(rung == 1, 1.0, 0.1))


def prefix(obs: Observations, n: int) -> Observations:
    return Observations(obs.weights[:n], obs.rung[:n], obs.y[:n], obs.cost[:n])


class Counting(MixtureSurrogate):
    """Counts hyperparameter fits and posterior rebuilds."""

    def __init__(self) -> None:
        super().__init__("icm")
        self.fits = self.rebuilds = 0

    def fit(self, data, *, optimize=True, fit_data=None):
        self.fits += optimize
        self.rebuilds += 1
        return super().fit(data, optimize=optimize, fit_data=fit_data)


def test_cheap_results_refresh_the_posterior_only_as_the_data_grows():
    obs = observations(130, target_every=10)
    fit = SurrogateFit(Counting(), RUNGS, seed=0)
    fit.fit(prefix(obs, 100))
    rebuilds = fit.surrogate.rebuilds
    cheap = Observations(np.vstack([obs.weights[:100], obs.weights[101:104]]),
                         np.append(obs.rung[:100], obs.rung[101:104]),
                         np.append(obs.y[:100], obs.y[101:104]),
                         np.append(obs.cost[:100], obs.cost[101:104]))
    assert (cheap.rung[100:] == 0).all()
    fit.fit(cheap)  # three cheap results: under 5% of 100, the posterior stays
    assert fit.surrogate.rebuilds == rebuilds and fit.surrogate.data.n == 100
    fit.fit(prefix(obs, 101))  # ... but a target result always refreshes it
    assert fit.surrogate.rebuilds == rebuilds + 1 and fit.surrogate.data.n == 101
    fit.fit(prefix(obs, 106))
    assert fit.surrogate.data.n == 101  # five cheap ones: still under 5% of 101
    fit.fit(prefix(obs, 107))
    assert fit.surrogate.data.n == 107  # six (5% of 101, rounded up) refresh it


def test_hyperparameters_are_refitted_on_growth_not_every_step():
    obs = observations(400, target_every=0)
    fit = SurrogateFit(Counting(), RUNGS, seed=0)
    for n in range(1, 401):
        fit.fit(prefix(obs, n))
    # Growth by half: n = 1, 2, 3, 5, 8, 12, 18, 27, 41, 62, 93, 140, 210, 315.
    assert fit.surrogate.fits == 14
    assert fit.surrogate.rebuilds < 120  # and far fewer rebuilds than observations


def test_hyperparameters_are_fitted_on_a_bounded_subset_keeping_every_target_run():
    obs = observations(fitting.FIT_SUBSET + 200, target_every=7)
    fit = SurrogateFit(MixtureSurrogate("icm"), RUNGS, seed=0)
    data = fitting.TrainingData(obs.weights, obs.rung, obs.y, RUNGS)
    subset = fit._subset(data)
    assert subset.n == fitting.FIT_SUBSET
    assert (subset.rung == 1).sum() == (obs.rung == 1).sum()


def test_a_restored_fit_rebuilds_exactly_the_model_that_was_saved():
    obs = observations(120, target_every=9)
    fit = SurrogateFit(MixtureSurrogate("icm"), RUNGS, seed=0)
    fit.fit(prefix(obs, 100))
    stale = Observations(np.vstack([obs.weights[:100], obs.weights[101:103]]),
                         np.append(obs.rung[:100], obs.rung[101:103]),
                         np.append(obs.y[:100], obs.y[101:103]),
                         np.append(obs.cost[:100], obs.cost[101:103]))
    assert (stale.rung[100:] == 0).all()
    expected = fit.fit(stale).predict(obs.weights[110:], 1)[0]  # still the n = 100 model
    restored = SurrogateFit(MixtureSurrogate("icm"), RUNGS, seed=0)
    restored.restore(fit.state())
    got = restored.fit(stale).predict(obs.weights[110:], 1)[0]
    assert restored.surrogate.data.n == 100
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)

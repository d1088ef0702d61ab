"""Hyperparameter draws: seeded, exact about the mean's information, wider where the data
leave the hyperparameters free, and leaving the fitted model as it was."""

import warnings

import numpy as np
import pytest
import torch
from linear_operator.utils.warnings import NumericalWarning
from surrogate_data import EFFECT, confirmed_cluster

from admire.bo.hyperparameters import HyperparameterDraws, fisher_information
from admire.bo.surrogate import MixtureSurrogate


def _fitted(seed: int = 0, target_scale: float = 1.0, kind: str = "icm") -> MixtureSurrogate:
    torch.manual_seed(0)  # BoTorch draws the rung covariance's starting factor
    return MixtureSurrogate(kind).fit(confirmed_cluster(seed, target_scale))


def test_the_fisher_information_of_each_rung_level_is_its_runs_summed_precision():
    """For a constant mean per rung, d mean / d level is the rung's indicator, so the Fisher
    information there is 1' K^-1 1 over the rung's runs: the finite differences must match."""
    surrogate = _fitted()
    draws = surrogate.hyperparameter_draws()
    info = fisher_information(draws, surrogate._prior_marginal)
    assert torch.allclose(info, info.T)
    assert torch.linalg.eigvalsh(info).min() > -1e-6 * info.abs().max()
    _, cov = surrogate._prior_marginal()
    inverse = torch.linalg.inv(cov)
    start = 0
    for name, p in surrogate.model.named_parameters():
        if name.startswith("mean_module.base_means.") and name.endswith("raw_constant"):
            rung = int(name.split(".")[2])
            ones = torch.as_tensor(surrogate.data.rung == rung, dtype=cov.dtype)
            assert torch.isclose(info[start, start], ones @ inverse @ ones, rtol=1e-4)
        start += p.numel()


@pytest.mark.parametrize("kind", ["icm", "mfgp"])
def test_draws_are_seeded_and_leave_the_fitted_model_as_it_was(kind):
    surrogate = _fitted(kind=kind)
    points = np.random.default_rng(1).dirichlet(np.ones(len(EFFECT)), size=20)
    before = surrogate.predict(points, 1)
    widened = surrogate.predict_widened(points, 1)
    after = surrogate.predict(points, 1)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    assert np.array_equal(widened[0], before[0])  # same centre: the fit's mean
    again = HyperparameterDraws(surrogate.model, surrogate._prior_marginal)
    assert torch.equal(again.draws, surrogate.hyperparameter_draws().draws)
    assert np.array_equal(_fitted(kind=kind).predict_widened(points, 1)[1], widened[1])
    assert np.median(widened[1] / before[1]) > 1.0  # the draws move the prediction


def test_intervals_widen_more_away_from_the_confirmed_cluster_than_at_it():
    """Target runs only in one corner: the target's level and spread are pinned there and
    free elsewhere, so the hyperparameters' uncertainty widens far intervals the most, and
    the far truth is covered at least as often as by the fit alone, and more often overall
    (how much more depends on how often the fit alone misses, which moves with the machine's
    floating point: over +0.2 on one machine, +0.08 on the next)."""
    far = np.random.default_rng(5).dirichlet(np.ones(len(EFFECT)), size=200)
    plain, wide = [], []
    for seed, target_scale in [(0, 1.0), (2, 1.0), (4, 1.0), (0, 2.0), (2, 2.0), (4, 2.0)]:
        surrogate = _fitted(seed, target_scale)
        near = surrogate.data.weights[surrogate.data.rung == 1]
        ratio = {name: np.median(np.sqrt(surrogate.predict_widened(w, 1)[1]
                                         / surrogate.predict(w, 1)[1]))
                 for name, w in (("near", near), ("far", far))}
        assert ratio["far"] > ratio["near"] >= 1.0
        truth = 0.1 + target_scale * far @ EFFECT
        mean, var = surrogate.predict(far, 1)
        plain.append(np.mean(np.abs(truth - mean) <= 1.645 * np.sqrt(var)))
        wide.append(np.mean(np.abs(truth - mean)
                            <= 1.645 * np.sqrt(surrogate.predict_widened(far, 1)[1])))
    assert all(w >= p for w, p in zip(wide, plain, strict=True))
    assert np.mean(wide) > np.mean(plain)


def test_when_no_draw_is_usable_the_fits_own_moments_come_back():
    """Every draw fails its Cholesky: the fit's own moments, and zero draws used."""
    surrogate = _fitted()
    draws = surrogate.hyperparameter_draws()

    def failing() -> tuple[np.ndarray, np.ndarray]:
        if not torch.equal(torch.cat([p.detach().reshape(-1) for p in draws.parameters]),
                           draws.fitted):
            raise torch.linalg.LinAlgError("not positive-definite")
        return np.zeros(3), np.ones(3)

    mean, var, used = draws.widen(failing)
    assert used == 0 and np.array_equal(var, np.ones(3)) and np.array_equal(mean, np.zeros(3))


def test_a_draws_numerical_warnings_are_silenced_and_the_fits_are_not():
    """A tail draw may need jitter (linear_operator warns); the mixture absorbs it, so only the
    fit's own moments may warn: a user's console shows one warning, not one per draw."""
    surrogate = _fitted()
    draws = surrogate.hyperparameter_draws()

    def jittered() -> tuple[np.ndarray, np.ndarray]:
        warnings.warn("A not p.d., added jitter of 1.0e-06 to the diagonal", NumericalWarning,
                      stacklevel=2)
        return np.zeros(3), np.ones(3)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, _, used = draws.widen(jittered)
    assert used == len(draws.draws) > 1
    assert [type(w.message) for w in caught] == [NumericalWarning]  # the fit's call alone

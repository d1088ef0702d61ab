"""The surrogate with pool features as context: fits, predicts under another pool, and says
when a prediction extrapolates beyond the pool states it was trained on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from admire.bo.pool_context import (
    PoolState,
    context_fn,
    feature_names,
    features_of,
    training_data,
)
from admire.bo.surrogate import MixtureSurrogate
from admire.errors import ValidationError

torch.set_num_threads(1)
DOMAINS = ["a", "b", "c"]
RUNG_TOKENS = (1000, 4000)
FIDELITY = (0.25, 1.0)


def truth(w: np.ndarray, rung: np.ndarray, state: PoolState) -> np.ndarray:
    """Gains in each domain's effective share, saturating once a domain is repeated."""
    cov = state.covariates(w, rung, DOMAINS)
    epochs = np.array([[c[f"pool:epochs:{d}"] for d in DOMAINS] for c in cov])
    return (np.log1p(np.minimum(epochs, 1.0)) * np.array([1.0, 0.6, 0.3])).sum(axis=1) \
        - 0.1 * rung


def runs(states: list[PoolState], n: int, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    w, r, y, cov = [], [], [], []
    for state in states:
        weights = rng.dirichlet(np.ones(3), n)
        rung = rng.integers(0, 2, n)
        w.append(weights)
        r.append(rung)
        y.append(truth(weights, rung, state) + 0.01 * rng.standard_normal(n))
        cov += state.covariates(weights, rung, DOMAINS)
    return np.vstack(w), np.concatenate(r), np.concatenate(y), cov


SMALL = PoolState({"a": 300.0, "b": 3000.0, "c": 3000.0}, RUNG_TOKENS)
MEDIUM = PoolState({"a": 1000.0, "b": 2000.0, "c": 3000.0}, RUNG_TOKENS)


def test_features_are_log1p_epochs_then_log_tokens():
    cov = SMALL.covariates(np.array([[0.5, 0.25, 0.25]]), np.array([1]), DOMAINS)
    f = features_of(cov, DOMAINS, "epochs+tokens")
    assert f.shape == (1, 6)
    assert f[0, 0] == pytest.approx(np.log1p(0.5 * 4000 / 300))
    assert f[0, 3] == pytest.approx(np.log(300.0))
    assert len(feature_names(DOMAINS, "epochs")) == 3
    with pytest.raises(ValidationError, match="unknown features"):
        feature_names(DOMAINS, "bogus")  # type: ignore[arg-type]


def test_context_model_predicts_another_pool_better_than_the_mixture_only_model():
    w, r, y, cov = runs([SMALL, MEDIUM], 30, 0)
    with_pool = MixtureSurrogate(context_fn=context_fn(MEDIUM, DOMAINS, "epochs")).fit(
        training_data(w, r, y, FIDELITY, cov, DOMAINS, "epochs"))
    plain = MixtureSurrogate().fit(training_data(w, r, y, FIDELITY, cov, DOMAINS, "none"))
    test = np.random.default_rng(1).dirichlet(np.ones(3), 200)
    target = np.full(len(test), 1)
    want = truth(test, target, MEDIUM)
    err_pool = np.abs(with_pool.predict(test, 1)[0] - want).mean()
    err_plain = np.abs(plain.predict(test, 1)[0] - want).mean()
    assert err_pool < 0.7 * err_plain
    # switching the prediction's pool moves the prediction the way the truth moves
    with_pool.context_fn = context_fn(SMALL, DOMAINS, "epochs")
    err_small = np.abs(with_pool.predict(test, 1)[0] - truth(test, target, SMALL)).mean()
    assert err_small < 0.7 * np.abs(plain.predict(test, 1)[0] - truth(test, target, SMALL)).mean()


def test_a_context_model_needs_a_context_fn_to_predict():
    w, r, y, cov = runs([SMALL], 10, 2)
    model = MixtureSurrogate().fit(training_data(w, r, y, FIDELITY, cov, DOMAINS, "epochs"))
    with pytest.raises(ValueError, match="context_fn"):
        model.predict(w[:2], 1)
    mean, var = model.predict_training()
    assert mean.shape == var.shape == (len(y),)
    assert np.corrcoef(mean, y)[0, 1] > 0.9


def test_the_hyperparameter_subset_keeps_each_runs_context():
    from admire.bo.fitting import FIT_SUBSET, SurrogateFit
    from admire.bo.surrogate import TrainingData

    rng = np.random.default_rng(3)
    n = FIT_SUBSET + 40
    w = rng.dirichlet(np.ones(3), n)
    data = TrainingData(w, rng.integers(0, 2, n), rng.normal(size=n), FIDELITY, 7.0 * w[:, :2])
    sub = SurrogateFit(MixtureSurrogate(), FIDELITY, 0)._subset(data)
    assert sub.n < n and sub.context is not None
    assert np.array_equal(sub.context, 7.0 * sub.weights[:, :2])

"""How far a prediction for a new pool reaches: features vs their training range, and the
posterior sd against the sd at the training runs."""

from __future__ import annotations

import numpy as np
import torch

from admire.bo.pool_context import PoolState, context_fn, extrapolation, feature_names
from admire.bo.pool_context import training_data as make_data
from admire.bo.surrogate import MixtureSurrogate

torch.set_num_threads(1)
DOMAINS = ["a", "b", "c"]
POOL = PoolState({"a": 300.0, "b": 3000.0, "c": 3000.0}, (1000, 4000))


def fitted(features: str = "epochs+tokens") -> MixtureSurrogate:
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(3), 30)
    r = rng.integers(0, 2, 30)
    y = w @ np.array([1.0, 0.5, 0.2]) + 0.01 * rng.standard_normal(30)
    data = make_data(w, r, y, (0.25, 1.0), POOL.covariates(w, r, DOMAINS), DOMAINS,
                     features)  # type: ignore[arg-type]
    return MixtureSurrogate(context_fn=context_fn(POOL, DOMAINS, features)).fit(  # type: ignore[arg-type]
        data)


def test_same_pool_stays_within_range_and_a_100x_pool_is_reported_outside():
    model = fitted()
    names = feature_names(DOMAINS, "epochs+tokens")
    point = np.array([0.3, 0.4, 0.3])
    inside = extrapolation(model, point, 1, names)
    assert inside.outside == []
    assert "within the range" in inside.sentence()
    big = PoolState({d: 100 * v for d, v in POOL.tokens.items()}, POOL.rung_tokens)
    model.context_fn = context_fn(big, DOMAINS, "epochs+tokens")
    outside = extrapolation(model, point, 1, names)
    assert set(outside.outside) >= {"log pool:tokens:a", "log pool:tokens:b"}
    assert "extrapolates" in outside.sentence()
    assert outside.sd_ratio > inside.sd_ratio
    row = next(f for f in outside.features if f["name"] == "log pool:tokens:a")
    assert row["value"] > row["train_max"]  # type: ignore[operator]

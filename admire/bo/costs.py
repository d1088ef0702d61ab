"""The cost model: what one run of each rung is expected to cost.

The ladder's estimates are a prior; observed costs replace them as runs finish. A rung with no
run yet keeps its estimate, rescaled by how far off the estimates of the observed rungs were
(a cluster twice as slow as estimated is twice as slow on every rung).
"""

from __future__ import annotations

import numpy as np


def rung_costs(estimates: np.ndarray, rung: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Expected raw cost per rung from the ladder's ``estimates`` and the observed runs
    (``rung`` index and ``cost`` of each completed run)."""
    estimates = np.asarray(estimates, dtype=float)
    n_rungs = len(estimates)
    sums = np.bincount(rung, weights=cost, minlength=n_rungs)[:n_rungs]
    counts = np.bincount(rung, minlength=n_rungs)[:n_rungs]
    observed = np.divide(sums, counts, out=estimates.copy(), where=counts > 0)
    if counts.any() and not counts.all():
        ratio = float(np.median(observed[counts > 0] / estimates[counts > 0]))
        observed[counts == 0] = estimates[counts == 0] * ratio
    return np.maximum(observed, 1e-12)

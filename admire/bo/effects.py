"""What a fitted mixture surrogate says about each domain: effects, interactions, LOO predictions.

Every quantity here is a linear functional of the GP's latent objective at a few points (a
finite difference), so its posterior is exactly Gaussian: mean ``A mu`` and covariance
``A Sigma A^T`` from one joint posterior, no sampling needed.

* **Effect of domain d** at a mixture x: the directional derivative of the predicted objective
  when weight moves to d from the other domains in proportion to their weights, i.e. along
  ``u_d = (e_d - x) / (1 - x_d)`` (one unit of weight onto d, the rest scaled down), by a
  central difference of step ``h``. Reported per :data:`PER` of weight (a +0.1 shift).
* **Interaction of (d, e)**: the mixed central second difference along ``u_d`` and ``u_e``:
  how much d's effect (per +0.1) changes when e gains 0.1.

At a face of the simplex the differences step up to ``h`` outside it; the GP is a smooth
function there, and the estimand stays its directional derivative at x.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from admire.bo.intervals import Z90
from admire.bo.surrogate import MixtureSurrogate

PER = 0.1  # effects are the objective change per +0.1 of weight
STEP = 0.05  # finite-difference step, in weight
PAIR_CHUNK = 16  # pairs per joint posterior in :func:`interactions` (memory, not results)


@dataclass(frozen=True)
class Estimate:
    """Posterior mean and sd of a quantity, with a (scaled) 90% interval."""

    mean: np.ndarray
    sd: np.ndarray  # what the interval uses
    scale: float = 1.0
    joint_sd: np.ndarray | None = None  # an average's sd under the joint posterior, if different

    @property
    def lower90(self) -> np.ndarray:
        return self.mean - Z90 * self.scale * self.sd

    @property
    def upper90(self) -> np.ndarray:
        return self.mean + Z90 * self.scale * self.sd

    @property
    def clear(self) -> np.ndarray:
        """True where the 90% interval excludes 0."""
        return (self.lower90 > 0) | (self.upper90 < 0)


def directions(x: np.ndarray) -> np.ndarray:
    """(K, K): row d is ``(e_d - x) / (1 - x_d)``, one unit of weight moved onto domain d from
    the others in proportion (a domain already at weight 1 gets a zero row)."""
    x = np.asarray(x, dtype=float)
    k = len(x)
    room = 1.0 - x
    rows = np.eye(k) - x[None, :]
    out = np.zeros((k, k))
    ok = room > 1e-9
    out[ok] = rows[ok] / room[ok, None]
    return out


def effects(surrogate: MixtureSurrogate, bases: np.ndarray, rung: int, *, step: float = STEP,
            scale: float = 1.0, conservative: bool = False) -> Estimate:
    """Per-domain effects (K,) averaged over ``bases`` (N, K), per :data:`PER` of weight.

    Differences at every base share one joint posterior. Its sd of the average assumes the
    model's errors at different bases partly cancel; they do not when the GP shrinks every
    slope the same way (on a planted linear function its 90% intervals missed 4 of 5 true
    averages), so ``conservative`` uses the mean of the bases' own sds instead, a bound that
    holds whatever the correlation (``joint_sd`` keeps the joint one)."""
    bases = np.atleast_2d(np.asarray(bases, dtype=float))
    n, k = bases.shape
    points, coef = [], np.zeros((k, 2 * k * n))
    for b, x in enumerate(bases):
        u = directions(x)
        points.append(np.vstack([x + step * u, x - step * u]))
        cols = 2 * k * b + np.arange(k)
        coef[np.arange(k), cols] = PER / (2 * step * n)
        coef[np.arange(k), cols + k] = -PER / (2 * step * n)
    mean, cov = surrogate.joint(np.vstack(points), rung)
    a = torch.as_tensor(coef, dtype=mean.dtype)
    joint_sd = torch.einsum("qm,mn,qn->q", a, cov, a).clamp_min(0).sqrt().numpy()
    # Each base's own sd, from its diagonal block: their mean bounds the average's sd
    # whatever the correlation between bases (the triangle inequality).
    local = np.zeros(k)
    for b in range(n):
        cols = slice(2 * k * b, 2 * k * (b + 1))
        block = a[:, cols] * n
        local += torch.einsum("qm,mn,qn->q", block, cov[cols, cols], block).clamp_min(0
                                                                             ).sqrt().numpy()
    sd = local / n if conservative else joint_sd
    return Estimate((a @ mean).numpy(), sd, scale, joint_sd if conservative else None)


def interactions(surrogate: MixtureSurrogate, bases: np.ndarray, rung: int, *,
                 step: float = STEP, scale: float = 1.0, conservative: bool = False) -> Estimate:
    """Pairwise interactions (K, K), symmetric with a zero diagonal, averaged over ``bases``:
    the change of d's effect (per +0.1) per +0.1 of e. ``conservative``: as in
    :func:`effects`, the sd of the average is the mean of the bases' own sds."""
    bases = np.atleast_2d(np.asarray(bases, dtype=float))
    n, k = bases.shape
    dirs = [directions(x) for x in bases]
    pairs = [(d, e) for d in range(k) for e in range(d + 1, k)]
    mean, sd, joint = np.zeros((k, k)), np.zeros((k, k)), np.zeros((k, k))
    signs = np.array([(1, 1), (1, -1), (-1, 1), (-1, -1)], dtype=float)
    weight = torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64) * PER**2 / (4 * step**2)
    for start in range(0, len(pairs), PAIR_CHUNK):
        chunk = pairs[start:start + PAIR_CHUNK]
        # points ordered (pair, base, corner): each (pair, base) is 4 consecutive points
        points = np.vstack([x + step * (signs[:, :1] * dirs[b][d] + signs[:, 1:] * dirs[b][e])
                            for d, e in chunk for b, x in enumerate(bases)])
        mu, cov = surrogate.joint(points, rung)
        m = len(chunk)
        value = (mu.reshape(m, n, 4) @ weight).mean(dim=1).numpy()
        coef = torch.zeros(m, m * n * 4, dtype=cov.dtype)
        for q in range(m):
            coef[q, q * n * 4:(q + 1) * n * 4] = weight.repeat(n) / n
        joint_sd = torch.einsum("qm,mn,qn->q", coef, cov, coef).clamp_min(0).sqrt().numpy()
        idx = torch.arange(m * n * 4).reshape(-1, 4)
        blocks = cov[idx[:, :, None], idx[:, None, :]]
        local = torch.einsum("j,ijk,k->i", weight, blocks, weight).clamp_min(0).sqrt()
        local_sd = local.reshape(m, n).mean(dim=1).numpy()
        for q, (d, e) in enumerate(chunk):
            mean[d, e] = mean[e, d] = value[q]
            joint[d, e] = joint[e, d] = joint_sd[q]
            sd[d, e] = sd[e, d] = local_sd[q] if conservative else joint_sd[q]
    return Estimate(mean, sd, scale, joint if conservative else None)


def true_effects(fn: Callable[[np.ndarray], np.ndarray], bases: np.ndarray, *,
                 step: float = STEP) -> np.ndarray:
    """The same central differences as :func:`effects` on a known function ``fn((m, K)) ->
    (m,)``: the ground truth the tests compare against."""
    bases = np.atleast_2d(np.asarray(bases, dtype=float))
    total = np.zeros(bases.shape[1])
    for x in bases:
        u = directions(x)
        total += (fn(x + step * u) - fn(x - step * u)) * PER / (2 * step)
    return total / len(bases)


@dataclass(frozen=True)
class LooPredictions:
    """Leave-one-mixture-out predictions of the observations at one rung (objective units):
    ``index`` into the training data, the mean and the sd of a new run there."""

    index: np.ndarray
    mean: np.ndarray
    sd: np.ndarray


def loo_predictions(surrogate: MixtureSurrogate, rung: int) -> LooPredictions:
    """Leave-one-mixture-out predictions at ``rung`` (:meth:`MixtureSurrogate.loo`), in
    objective units, so ``(y - mean) / sd`` equals its z-scores."""
    assert surrogate.data is not None and surrogate.scaling is not None
    index, residual, sd = surrogate.loo(rung)
    std = surrogate.scaling.std[rung]
    return LooPredictions(index, surrogate.data.y[index] - residual * std, sd * std)

"""The data-mixing law Olmix regresses, and its KL-penalised optimum over the simplex.

Olmix (and RegMix, "Data Mixing Laws") model a loss as ``L(w) = c + exp(b + t . w)``: log-linear
in the weights above a floor ``c``. Here the law is fitted to any objective, oriented for
maximisation (``y``): the "loss" is ``u = -y``, so a minimised loss is modelled as itself and a
maximised score as its negative. ``log(u - c)`` needs ``u > c``, and the floor is not known: it is
chosen with the ridge penalty by exact leave-one-out error, among a grid of floors below the
smallest ``u`` (``min u - delta * range u``: a small delta is a steep law near the best run, a
large one is close to a linear fit) plus ``c = 0`` where every ``u`` is positive (Olmix's own
``log(loss)`` fit). The error that picks them is measured on ``u``, not on the log scale, so
floors are compared fairly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

FLOOR_DELTAS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)  # floor = min u - delta * range u
RIDGE_GRID = np.logspace(-4, 2, 13)  # ridge penalty, relative to the mean feature variance
MIN_FIT = 3  # fewer observations than this: a constant law
MAX_EXPONENT = 700.0  # exp overflows above ~709
TINY = 1e-12


@dataclass(frozen=True)
class LogLinearLaw:
    """``u(w) = floor + exp(intercept + w . slope)``; ``y(w) = -u(w)`` (oriented: higher is
    better). ``scale`` is the standard deviation of the fitted ``y``, the unit of the KL
    penalty."""

    floor: float
    intercept: float
    slope: np.ndarray  # (K,)
    scale: float
    ridge: float = 0.0
    loo_error: float = float("nan")  # leave-one-out mean squared error on u

    def predict(self, weights: np.ndarray) -> np.ndarray:
        """Oriented objective at (n, K) mixtures -> (n,)."""
        exponent = np.clip(self.intercept + np.atleast_2d(weights) @ self.slope,
                           -MAX_EXPONENT, MAX_EXPONENT)
        return -(self.floor + np.exp(exponent))

    def gradient(self, weights: np.ndarray) -> np.ndarray:
        """Gradient of :meth:`predict` at one (K,) mixture."""
        exponent = np.clip(self.intercept + weights @ self.slope, -MAX_EXPONENT, MAX_EXPONENT)
        return -np.exp(exponent) * self.slope


def constant_law(y: np.ndarray, k: int) -> LogLinearLaw:
    """The law of too few runs: the mean, everywhere (0 with none)."""
    mean = float(np.mean(y)) if len(y) else 0.0
    return LogLinearLaw(-mean - 1.0, 0.0, np.zeros(k), 1.0)


def _scale(y: np.ndarray) -> float:
    sd = float(np.std(y))
    return sd if sd > TINY * (1.0 + float(np.abs(y).max())) else 1.0


def _ridge_loo(x: np.ndarray, z: np.ndarray, alphas: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge fits of ``z ~ b + x . t`` (intercept not penalised) for every alpha: slopes
    (A, K), intercepts (A,) and exact leave-one-out predictions (A, n), from one SVD."""
    n = len(z)
    x_mean, z_mean = x.mean(axis=0), z.mean()
    xc, zc = x - x_mean, z - z_mean
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    uz = u.T @ zc
    shrink = s[None, :] / (s[None, :] ** 2 + alphas[:, None])  # (A, r)
    slopes = (shrink * uz[None, :]) @ vt
    intercepts = z_mean - slopes @ x_mean
    fitted = intercepts[:, None] + slopes @ x.T
    leverage = 1.0 / n + (u ** 2) @ (s[:, None] ** 2 / (s[:, None] ** 2 + alphas[None, :]))
    residual = z[None, :] - fitted
    loo = z[None, :] - residual / np.maximum(1.0 - leverage.T, TINY)
    return slopes, intercepts, loo


def fit_log_linear(weights: np.ndarray, y: np.ndarray) -> LogLinearLaw:
    """Fit the law to (n, K) mixtures and their oriented objective ``y`` (n,): the floor and
    the ridge penalty with the smallest leave-one-out error on ``u = -y``."""
    weights, y = np.asarray(weights, dtype=float), np.asarray(y, dtype=float)
    k = weights.shape[1]
    if len(y) < MIN_FIT:
        return constant_law(y, k)
    u = -y
    spread = float(u.max() - u.min())
    if spread <= TINY * (1.0 + float(np.abs(u).max())):
        return constant_law(y, k)
    floors = [float(u.min() - d * spread) for d in FLOOR_DELTAS]
    if u.min() > 0:
        floors.append(0.0)
    variance = float(np.mean(weights.var(axis=0)))
    alphas = RIDGE_GRID * max(variance, TINY) * len(y)
    best: tuple[float, float, float, np.ndarray, float] | None = None
    for floor in floors:
        z = np.log(u - floor)
        slopes, intercepts, loo = _ridge_loo(weights, z, alphas)
        predicted = floor + np.exp(np.clip(loo, -MAX_EXPONENT, MAX_EXPONENT))
        errors = np.mean((predicted - u[None, :]) ** 2, axis=1)
        i = int(np.argmin(errors))
        if best is None or errors[i] < best[0]:
            best = (float(errors[i]), floor, float(intercepts[i]), slopes[i], float(alphas[i]))
    assert best is not None
    error, floor, intercept, slope, alpha = best
    return LogLinearLaw(floor, intercept, slope, _scale(y), alpha, error)


# --- the KL-penalised proposal -------------------------------------------------------------------


def kl_divergence(weights: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """KL(w || prior) in nats for (n, K) or (K,) mixtures (0 log 0 = 0)."""
    w = np.atleast_2d(weights)
    terms = np.where(w > 0, w * np.log(np.maximum(w, TINY) / prior), 0.0)
    out = terms.sum(axis=1)
    return out if np.ndim(weights) > 1 else out[0]


def penalised_score(law: LogLinearLaw, weights: np.ndarray, prior: np.ndarray,
                    kl_weight: float) -> np.ndarray:
    """What Olmix maximises: the predicted gain over the prior in swarm standard deviations,
    minus ``kl_weight`` nats of KL(w || prior)."""
    gain = (law.predict(weights) - law.predict(prior)[0]) / law.scale
    return gain - kl_weight * kl_divergence(np.atleast_2d(weights), prior)


def penalised_optimum(law: LogLinearLaw, prior: np.ndarray, kl_weight: float,
                      lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """argmax of :func:`penalised_score` over {w: sum w = 1, lower <= w <= upper}.

    The predicted objective ``-(c + exp(affine))`` is concave and -KL is strictly concave, so
    the optimum is unique (for ``kl_weight > 0``) and SLSQP from the prior finds it; the prior
    is kept if SLSQP ends anywhere worse.
    """

    def negative(w: np.ndarray) -> float:
        return -float(penalised_score(law, w[None, :], prior, kl_weight)[0])

    def gradient(w: np.ndarray) -> np.ndarray:
        kl_grad = np.log(np.maximum(w, TINY) / prior) + 1.0
        return -(law.gradient(w) / law.scale - kl_weight * kl_grad)

    start = np.clip(prior, lower, upper)
    start = start / start.sum()
    result = minimize(negative, start, jac=gradient, method="SLSQP",
                      bounds=list(zip(lower, upper, strict=True)),
                      constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0,
                                    "jac": lambda w: np.ones_like(w)}],
                      options={"maxiter": 500, "ftol": 1e-12})
    w = np.clip(np.asarray(result.x, dtype=float), lower, upper)
    w = w / w.sum()
    return w if negative(w) <= negative(start) else start

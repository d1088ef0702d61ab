"""Hyperparameter uncertainty for a fitted GP's intervals: a Laplace approximation around the
fit, with the Fisher information of its marginal likelihood as the precision.

Why: a GP fitted by maximum marginal likelihood predicts as if its hyperparameters were known.
A study's target runs cluster where the search confirmed, so the target rung's level, spread
and correlation with the cheap rungs are pinned near them and loosely identified anywhere
else; intervals at mixtures the study never ran at the target then cover far less than they
say (bench/results/calibration.md). Drawing the hyperparameters from that approximate
posterior and mixing the predictions widens the intervals exactly where the data leave the
hyperparameters free, and hardly near the runs that fix them.

The Fisher information of a Gaussian, ``dm' K^-1 dm + tr(K^-1 dK K^-1 dK) / 2`` per pair of
raw (unconstrained) hyperparameters, is positive semi-definite wherever the capped fit stopped,
unlike the Hessian of the loss; a Gaussian prior on each raw direction keeps the draws
finite along directions the data do not inform at all.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from botorch.models.model import Model
from linear_operator.utils.errors import NotPSDError
from linear_operator.utils.warnings import NumericalWarning
from torch import Tensor

DRAWS = 32  # hyperparameter draws per fit
# A Gaussian prior of sd 2 on every raw hyperparameter direction: in bench/calibration, 0.25
# covered the held-out mixtures of all 5 problems better than 1 or 4 (calibration_precision*);
# 0.0625 gained 0.02-0.03 on the two real tables only and widened the synthetic ones' intervals.
PRIOR_PRECISION = 0.25
STEP = 1e-4  # central-difference step in raw hyperparameter units
FISHER_RUNS = 1000  # runs the information is computed on (a seeded subset above: p n^2 memory)

Marginal = Callable[[], tuple[Tensor, Tensor]]
Moments = Callable[[], tuple[np.ndarray, np.ndarray]]


class HyperparameterDraws:
    """Raw-hyperparameter vectors drawn around a fitted model's, to mix predictions over.

    ``marginal`` gives the model's prior mean and covariance (noise included) of the training
    targets under its current hyperparameters; the draws are seeded, so a recommendation's
    interval is reproducible."""

    def __init__(self, model: Model, marginal: Marginal, n: int = DRAWS, seed: int = 0) -> None:
        self.model = model
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.fitted = torch.cat([p.detach().reshape(-1) for p in self.parameters]).clone()
        precision = fisher_information(self, marginal)
        precision += PRIOR_PRECISION * torch.eye(len(self.fitted), dtype=precision.dtype)
        root = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(precision)))
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn(n, len(self.fitted), generator=generator, dtype=self.fitted.dtype)
        self.draws = self.fitted + noise @ root.T

    def load(self, theta: Tensor) -> None:
        """Set the model's raw hyperparameters to ``theta`` and drop its prediction caches."""
        start = 0
        with torch.no_grad():
            for p in self.parameters:
                p.copy_(theta[start:start + p.numel()].reshape(p.shape))
                start += p.numel()
        self.model.prediction_strategy = None

    def restore(self) -> None:
        self.load(self.fitted)

    def widen(self, moments: Moments) -> tuple[np.ndarray, np.ndarray, int]:
        """``moments()`` (mean, variance) at the fit, and the variance around that mean once
        the hyperparameters are uncertain: E[var] + E[(mean - fitted mean)^2] over the draws.
        Draws whose covariance is not positive definite are skipped; the third value says how
        many were used (0: the fit's own variance is returned). A draw far out in a tail can
        make the covariance ill-conditioned: linear_operator then adds jitter or gpytorch rounds
        a negative variance up, each with a NumericalWarning. That is expected of a draw, and
        the mixture absorbs it, so those warnings are silenced here (the fit's own are not)."""
        mean, var = moments()
        variances, shifts = [], []
        try:
            for theta in self.draws:
                self.load(theta)
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", NumericalWarning)
                        m, v = moments()
                except (NotPSDError, torch.linalg.LinAlgError):
                    continue
                if np.all(np.isfinite(m)) and np.all(np.isfinite(v)):
                    variances.append(v)
                    shifts.append((m - mean) ** 2)
        finally:
            self.restore()
        if not variances:
            return mean, var, 0
        return mean, np.mean(variances, axis=0) + np.mean(shifts, axis=0), len(variances)


def fisher_information(draws: HyperparameterDraws, marginal: Marginal) -> Tensor:
    """Fisher information of the training targets' Gaussian in the raw hyperparameters, by
    central differences of its mean and covariance (no Cholesky per step, one overall).
    Above :data:`FISHER_RUNS` runs, on a seeded subset of them: less information, so wider
    draws, never narrower ones."""
    mean, cov = marginal()
    keep = _subset(len(mean))
    inverse = torch.cholesky_inverse(torch.linalg.cholesky(cov[keep][:, keep]))
    d_mean, d_cov = [], []
    try:
        for j in range(len(draws.fitted)):
            step = torch.zeros_like(draws.fitted)
            step[j] = STEP
            draws.load(draws.fitted + step)
            m_up, k_up = marginal()
            draws.load(draws.fitted - step)
            m_down, k_down = marginal()
            d_mean.append((m_up - m_down)[keep] / (2 * STEP))
            d_cov.append(inverse @ ((k_up - k_down)[keep][:, keep] / (2 * STEP)))
    finally:
        draws.restore()
    dm = torch.stack(d_mean)  # (p, n)
    dk = torch.stack(d_cov)  # (p, n, n): K^-1 dK_j
    info = dm @ inverse @ dm.T + 0.5 * torch.einsum("iab,jba->ij", dk, dk)
    return 0.5 * (info + info.T)


def _subset(n: int) -> Tensor:
    """All runs, or a seeded sorted subset of :data:`FISHER_RUNS` of them."""
    if n <= FISHER_RUNS:
        return torch.arange(n)
    generator = torch.Generator().manual_seed(0)
    return torch.randperm(n, generator=generator)[:FISHER_RUNS].sort().values

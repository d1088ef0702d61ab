"""Cheaper rungs of a synthetic problem: the target, blurred by an independent law, calibrated.

A cheap rung's noiseless objective is ``level + scale * (a z_T + sqrt(1 - a^2) r)``: z_T is the
standardised target and r an independent random direction built from two laws of the same family,
each made uncorrelated with z_T over the rung's mixtures (otherwise their shared dislike of
narrow mixtures alone would fix the correlation). The share a is calibrated so the Spearman
correlation with the target over the target mixtures (the ones every rung shares, where a table's
user measures it) is the requested value; the direction of r is chosen among a few so the
correlation over all of the rung's mixtures is close to it too. With ~50-80 shared mixtures the
two differ by about 0.1 for a single random law, which would make a spec's number a coin toss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from admire.errors import AdmireError
from admire.problems.mixing_law import MixingLaw

SHARED_TOL = 0.02  # Spearman over the shared mixtures lands this close to the request
DIRECTIONS = 32  # angles tried between the two independent laws


class GenerationError(AdmireError):
    """A generated problem failed one of its own checks (calibration or optimum)."""


def _unit_ranks(x: np.ndarray) -> np.ndarray:
    """Centred ranks scaled to unit norm; continuous values have no ties, so argsort ranks."""
    ranks = np.argsort(np.argsort(x)).astype(float)
    ranks -= ranks.mean()
    return ranks / np.linalg.norm(ranks)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two tie-free samples (noiseless objectives are continuous)."""
    return float(_unit_ranks(a) @ _unit_ranks(b))


@dataclass(frozen=True)
class RungResponse:
    """Noiseless objective at one cheaper rung, given the target's values at the same mixtures."""

    others: tuple[MixingLaw, ...]
    target_mean: float
    target_sd: float
    other_mean: tuple[float, ...]
    other_sd: tuple[float, ...]
    beta: tuple[float, ...]  # regression of each standardised law on z_T
    mix: tuple[float, ...]  # weights of the residuals in r (unit sd over the rung's mixtures)
    share: float
    level: float
    scale: float

    def residuals(self, weights: np.ndarray, z_t: np.ndarray) -> np.ndarray:
        return sum(m * ((law.value(weights) - mean) / sd - beta * z_t)
                   for law, mean, sd, beta, m in zip(self.others, self.other_mean, self.other_sd,
                                                     self.beta, self.mix, strict=True))

    def value(self, weights: np.ndarray, target_values: np.ndarray) -> np.ndarray:
        z_t = (target_values - self.target_mean) / self.target_sd
        blur = self.residuals(weights, z_t)
        return self.level + self.scale * (self.share * z_t
                                          + math.sqrt(max(0.0, 1 - self.share**2)) * blur)


def _fit_share(z_t: np.ndarray, blur: np.ndarray, target: np.ndarray, want: float
               ) -> tuple[float, float]:
    """Bisect the share a for Spearman ``want`` between a z_t + sqrt(1-a^2) blur and the target
    (continuous values: no ties, so ranks come from argsort); returns (share, realised)."""
    target_ranks = _unit_ranks(target)

    def corr(share: float) -> float:
        return float(_unit_ranks(share * z_t + math.sqrt(1 - share**2) * blur) @ target_ranks)

    low, high = -1.0, 1.0
    for _ in range(30):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if corr(mid) < want else (low, mid)
    c_low, c_high = corr(low), corr(high)
    return (high, c_high) if abs(c_high - want) <= abs(c_low - want) else (low, c_low)


def calibrate(others: tuple[MixingLaw, MixingLaw], mixtures: np.ndarray, target_values: np.ndarray,
              n_shared: int, want: float, level_factor: float, scale_factor: float
              ) -> RungResponse:
    """A rung over ``mixtures`` (the first ``n_shared`` are the target mixtures) with Spearman
    ``want`` to the target on the shared ones and as close as we can get on all of them."""
    t_mean, t_sd = float(target_values.mean()), float(target_values.std())
    z_t = (target_values - t_mean) / t_sd
    means, sds, betas, resids = [], [], [], []
    for law in others:
        raw = law.value(mixtures)
        z_o = (raw - raw.mean()) / raw.std()
        beta = float(np.mean(z_o * z_t))
        resid = z_o - beta * z_t
        means.append(float(raw.mean()))
        sds.append(float(raw.std()))
        betas.append(beta)
        resids.append(resid - resid.mean())
    base = RungResponse(others, t_mean, t_sd, tuple(means), tuple(sds), tuple(betas),
                        (), 0.0, level_factor * t_mean, scale_factor * t_sd)
    best: tuple[float, RungResponse] | None = None
    for angle in np.arange(DIRECTIONS) * np.pi / DIRECTIONS:
        direction = (np.cos(angle), np.sin(angle))
        blur = direction[0] * resids[0] + direction[1] * resids[1]
        norm = float(np.std(blur))
        blur /= norm
        share, realised = _fit_share(z_t[:n_shared], blur[:n_shared], target_values[:n_shared],
                                     want)
        if abs(realised - want) > SHARED_TOL:
            continue
        candidate = replace(base, mix=(direction[0] / norm, direction[1] / norm), share=share)
        miss = abs(spearman(share * z_t + math.sqrt(1 - share**2) * blur, target_values) - want)
        if best is None or miss < best[0]:
            best = (miss, candidate)
    if best is None:
        raise GenerationError(f"no blur reaches Spearman {want:.3f} with the target over the "
                              f"{n_shared} shared mixtures; try another seed")
    return best[1]

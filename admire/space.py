"""The mixture simplex with per-domain bounds, and its Ax search space.

Ax's Sobol under a sum constraint rejection-samples and fails around 7 domains, so the
space-filling start is ours: a scrambled Sobol sequence mapped onto the simplex (the exponential
spacing trick gives a quasi-random Dirichlet(1)), then fitted into the bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ax.core.parameter import ParameterType, RangeParameter
from ax.core.parameter_constraint import ParameterConstraint
from ax.core.search_space import SearchSpace

from admire.errors import ConfigError, ValidationError
from admire.schema.ladder import FidelityLadder

FIDELITY_PARAM = "fidelity"
SUM_TOL = 1e-9
KEY_DECIMALS = 6  # weights equal to 6 decimals are the same mixture (across rungs, trials)


def mixture_keys_array(weights: np.ndarray) -> np.ndarray:
    """Weights rounded to :data:`KEY_DECIMALS` (-0.0 made 0.0): rows equal here are the same
    mixture. The one rule for matching mixtures, in arrays and in runs tables."""
    return np.round(np.atleast_2d(np.asarray(weights, dtype=float)), KEY_DECIMALS) + 0.0


def mixture_ids(weights: np.ndarray) -> np.ndarray:
    """(n,) an integer per row, equal for rows of the same mixture (:func:`mixture_keys_array`),
    numbered in the keys' sorted order."""
    return np.unique(mixture_keys_array(weights), axis=0, return_inverse=True)[1].reshape(-1)


def mixture_key(weights: np.ndarray) -> tuple[float, ...]:
    """A hashable key of one mixture (see :func:`mixture_keys_array`)."""
    return tuple(mixture_keys_array(weights)[0].tolist())


def weight_param(i: int) -> str:
    """Ax parameter name of the i-th weight (domain names may hold characters Ax cannot parse)."""
    return f"w{i}"


@dataclass(frozen=True)
class MixtureSpace:
    """K named domains; weights in [lower_i, upper_i] summing to 1."""

    domains: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]

    def __post_init__(self) -> None:
        k = len(self.domains)
        if k < 2:
            raise ConfigError("a mixture needs at least two domains", where="domains")
        if len(set(self.domains)) != k:
            dupes = sorted({d for d in self.domains if self.domains.count(d) > 1})
            raise ConfigError(f"duplicate domains {dupes}", where="domains")
        if len(self.lower) != k or len(self.upper) != k:
            raise ConfigError("one lower and one upper bound per domain", where="domains")
        for name, lo, hi in zip(self.domains, self.lower, self.upper, strict=True):
            if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo <= hi <= 1.0):
                raise ConfigError(f"bounds must satisfy 0 <= lower <= upper <= 1, got "
                                  f"[{lo}, {hi}]", where=f"domain {name!r}")
        if sum(self.lower) > 1.0 + SUM_TOL:
            raise ConfigError(f"lower bounds sum to {sum(self.lower):.6g} > 1: no mixture fits",
                              where="domains")
        if sum(self.upper) < 1.0 - SUM_TOL:
            raise ConfigError(f"upper bounds sum to {sum(self.upper):.6g} < 1: no mixture fits",
                              where="domains")

    @property
    def k(self) -> int:
        return len(self.domains)

    @property
    def lower_array(self) -> np.ndarray:
        return np.asarray(self.lower, dtype=float)

    @property
    def upper_array(self) -> np.ndarray:
        return np.asarray(self.upper, dtype=float)

    # --- points ------------------------------------------------------------------------------

    def project(self, weights: np.ndarray) -> np.ndarray:
        """Nearest-in-spirit feasible mixture: clip into the bounds, then move the surplus or
        deficit along the coordinates that still have room, proportionally (water filling).

        Rows already feasible come back unchanged up to rounding; the sum is 1 within 1e-12.
        """
        w = np.atleast_2d(np.asarray(weights, dtype=float)).copy()
        lo, hi = self.lower_array, self.upper_array
        w = np.clip(np.nan_to_num(w, nan=0.0), lo, hi)
        for row in w:
            for _ in range(4 * self.k):
                gap = 1.0 - row.sum()
                if abs(gap) <= 1e-15:
                    break
                room = (hi - row) if gap > 0 else (row - lo)
                free = room > 1e-15
                if not free.any():
                    break
                share = room[free] / room[free].sum()
                row[free] += np.sign(gap) * np.minimum(room[free], abs(gap) * share)
            row[:] = np.clip(row, lo, hi)
            # Final exact fix on the coordinate with the most room.
            gap = 1.0 - row.sum()
            room = (hi - row) if gap > 0 else (row - lo)
            j = int(np.argmax(room))
            row[j] += gap
        return w if np.ndim(weights) > 1 else w[0]

    def sobol(self, n: int, seed: int) -> np.ndarray:
        """n space-filling mixtures: scrambled Sobol mapped onto the simplex, then the bounds.

        Lower bounds are honoured by construction (w = lower + slack * simplex point); upper
        bounds by water filling.
        """
        if n <= 0:
            return np.zeros((0, self.k))
        engine = torch.quasirandom.SobolEngine(dimension=self.k, scramble=True, seed=seed)
        u = engine.draw(n).to(torch.float64).numpy()
        u = np.clip(u, 1e-12, 1.0 - 1e-12)
        spacing = -np.log(u)  # exponential spacings: normalised, they are Dirichlet(1)
        simplex = spacing / spacing.sum(axis=1, keepdims=True)
        slack = 1.0 - float(self.lower_array.sum())
        return self.project(self.lower_array + slack * simplex)

    def dirichlet(self, n: int, rng: np.random.Generator, alpha: float = 1.0) -> np.ndarray:
        slack = 1.0 - float(self.lower_array.sum())
        simplex = rng.dirichlet(np.full(self.k, alpha), size=n)
        return self.project(self.lower_array + slack * simplex)

    def check(self, weights: Sequence[float], *, where: str = "mixture",
              tol: float = SUM_TOL) -> np.ndarray:
        """Raise a ValidationError naming the domain if ``weights`` is not in the space."""
        w = np.asarray(weights, dtype=float)
        if w.shape != (self.k,):
            raise ValidationError(f"expected {self.k} weights, got {w.shape}", where=where)
        for i, name in enumerate(self.domains):
            if not math.isfinite(w[i]):
                raise ValidationError(f"weight of {name!r} is not finite", where=where)
            if w[i] < self.lower[i] - tol or w[i] > self.upper[i] + tol:
                raise ValidationError(f"weight of {name!r} is {w[i]:.6g}, outside "
                                      f"[{self.lower[i]}, {self.upper[i]}]", where=where)
        if abs(w.sum() - 1.0) > tol:
            raise ValidationError(f"weights sum to {w.sum():.12g}, not 1", where=where)
        return w

    def as_dict(self, weights: Sequence[float]) -> dict[str, float]:
        return {d: float(v) for d, v in zip(self.domains, weights, strict=True)}

    def from_dict(self, mixture: Mapping[str, float], *, where: str = "mixture") -> np.ndarray:
        unknown = sorted(set(mixture) - set(self.domains))
        if unknown:
            raise ValidationError(f"unknown domains {unknown}; the study has "
                                  f"{list(self.domains)}", where=where)
        missing = [d for d in self.domains if d not in mixture]
        if missing:
            raise ValidationError(f"missing weights for {missing}", where=where)
        return np.array([float(mixture[d]) for d in self.domains])

    # --- Ax ------------------------------------------------------------------------------------

    def to_ax(self, ladder: FidelityLadder) -> SearchSpace:
        """K weight parameters with an exact-sum equality constraint, plus the fidelity."""
        params = [RangeParameter(weight_param(i), ParameterType.FLOAT, float(lo), float(hi))
                  for i, (lo, hi) in enumerate(zip(self.lower, self.upper, strict=True))]
        fids = [r.fidelity for r in ladder.rungs]
        low_fid = fids[0] if len(fids) > 1 else fids[0] * 0.5
        params.append(RangeParameter(FIDELITY_PARAM, ParameterType.FLOAT, float(low_fid),
                                     float(fids[-1]), is_fidelity=True,
                                     target_value=float(fids[-1])))
        constraint = ParameterConstraint(
            equality=" + ".join(weight_param(i) for i in range(self.k)) + " == 1")
        return SearchSpace(params, parameter_constraints=[constraint])

    def weights_from_params(self, params: Mapping[str, float]) -> np.ndarray:
        return np.array([float(params[weight_param(i)]) for i in range(self.k)])

    def params_from_weights(self, weights: Sequence[float], fidelity: float) -> dict[str, float]:
        params = {weight_param(i): float(w) for i, w in enumerate(weights)}
        params[FIDELITY_PARAM] = float(fidelity)
        return params

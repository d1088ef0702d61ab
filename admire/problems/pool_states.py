"""Synthetic problems whose truth depends on the data pool's state (CausalMix's setting).

A run draws ``w_i * T_r`` tokens of domain ``i`` at rung ``r`` from a pool of ``P_i`` tokens.
Repeated tokens are worth less (data-constrained scaling, Muennighoff et al. 2023): with
``U = min(D, P)`` unique tokens and ``R = D / U - 1`` repeats, the drawn tokens are worth
``U + U * R* * (1 - exp(-R / R*))``; ``R*`` (``half_life``) sets how fast returns diminish. The
mixing law's data terms see these effective weights, at every rung with that rung's own epochs,
so the truth of any mixture under any pool state is known, and so is its optimum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from admire.errors import ValidationError
from admire.problems.synthetic import SyntheticProblem

HALF_LIFE = 4.0  # repeated epochs R* at which a domain's extra value has decayed by 1 - 1/e
TARGET_TOKENS = 1_000_000_000
POOL_SHARE = (0.03, 1.0)  # base pool per domain as a share of the target's tokens (log-uniform)


def effective_weights(weights: np.ndarray, pool: np.ndarray, tokens: float,
                      half_life: float = HALF_LIFE) -> np.ndarray:
    """(n, K) weights -> what their drawn tokens are worth, as a share of ``tokens``."""
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    drawn = w * tokens
    unique = np.minimum(drawn, pool)
    repeats = np.where(unique > 0, drawn / np.maximum(unique, 1e-300) - 1.0, 0.0)
    worth = unique + unique * half_life * (1.0 - np.exp(-repeats / half_life))
    return worth / tokens


@dataclass(frozen=True)
class PooledProblem:
    """A :class:`SyntheticProblem` with pool sizes: its truth under any pool state."""

    problem: SyntheticProblem
    base_pool: np.ndarray  # (K,) tokens per domain of the pool the generator drew
    rung_tokens: tuple[int, ...]  # training tokens per rung, cheapest first
    half_life: float = HALF_LIFE

    @property
    def domains(self) -> tuple[str, ...]:
        return self.problem.domains

    def pool(self, scale: float | Sequence[float] = 1.0) -> np.ndarray:
        """The base pool times ``scale`` (one number, or one per domain)."""
        out = self.base_pool * np.asarray(scale, dtype=float)
        if out.shape != self.base_pool.shape or not np.all(np.isfinite(out)) or np.any(out <= 0):
            raise ValidationError(f"expected {len(self.base_pool)} pool sizes > 0, got {out}",
                                  where="pool")
        return out

    def truth(self, weights: np.ndarray, rung: int, pool: np.ndarray) -> np.ndarray:
        """Noiseless objective of (n, K) mixtures at rung index ``rung`` under ``pool``."""
        w = np.atleast_2d(np.asarray(weights, dtype=float))
        eff = effective_weights(w, pool, self.rung_tokens[rung], self.half_life)
        target = self.problem.target_law.value_at(w, eff)
        last = len(self.rung_tokens) - 1
        return target if rung == last else self.problem.responses[rung].value(w, target)

    def evaluate(self, weights: np.ndarray, rung: int, pool: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
        """Noisy runs (seed noise of the rung)."""
        value = self.truth(weights, rung, pool)
        return value + self.problem.noise_sd[rung] * rng.standard_normal(value.shape)

    def optimum(self, pool: np.ndarray, seed: int = 0, n_starts: int = 4
                ) -> tuple[np.ndarray, float]:
        """(weights, value) minimising the target truth under ``pool``: the best of a random
        swarm, polished by SLSQP on the simplex from the best few."""
        k, last = len(self.base_pool), len(self.rung_tokens) - 1
        rng = np.random.default_rng([seed, 0x9001])
        swarm = np.vstack([rng.dirichlet(np.ones(k), 4000), np.eye(k),
                           self.problem.optimum_weights])
        values = self.truth(swarm, last, pool)
        best_w, best_v = swarm[int(np.argmin(values))], float(values.min())
        cons = ({"type": "eq", "fun": lambda x: x.sum() - 1.0},)
        for start in swarm[np.argsort(values)[:n_starts]]:
            res = minimize(lambda x: float(self.truth(x, last, pool)[0]), start,
                           method="SLSQP", bounds=[(0.0, 1.0)] * k, constraints=cons)
            x = np.clip(res.x, 0.0, None)
            x /= x.sum()
            v = float(self.truth(x, last, pool)[0])
            if v < best_v:
                best_w, best_v = x, v
        return best_w, best_v


def with_pool(problem: SyntheticProblem, seed: int, half_life: float = HALF_LIFE,
              target_tokens: int = TARGET_TOKENS) -> PooledProblem:
    """Seeded pool sizes (log-uniform shares of the target's tokens) and rung token counts
    (proportional to the square root of each rung's cost: smaller models, fewer tokens)."""
    rng = np.random.default_rng([seed, 0x9002])
    share = np.exp(rng.uniform(*np.log(POOL_SHARE), size=problem.spec.k))
    tokens = tuple(int(target_tokens * c ** 0.5) for c in problem.rung_costs)
    return PooledProblem(problem, share * target_tokens, tokens, half_life)

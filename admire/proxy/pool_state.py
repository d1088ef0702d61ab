"""The data pool's state as a run sees it: per domain, the tokens the pool holds, the tokens the
mixture draws and the epochs that implies (CausalMix's covariates).

One pure function computes them, so a live worker recording a run and the recommender predicting
for a new pool agree exactly: the drawn counts are the sampler's own largest-remainder counts.

    pool_covariates({"code": 0.9, "math": 0.1}, {"code": 10_000, "math": 500}, 4096)
    # {"pool:tokens:code": 10000.0, "pool:drawn:code": 3686.0, "pool:epochs:code": 0.3686, ...}
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from admire.errors import ValidationError
from admire.proxy.sampler import largest_remainder

PREFIX = "pool:"
TOKENS = "tokens"  # train tokens the pool holds for the domain
DRAWN = "drawn"  # train tokens the mixture draws from it at this rung
EPOCHS = "epochs"  # drawn / tokens: how often the domain is repeated
TRAIN_TOKENS = PREFIX + "train_tokens"  # the rung's total training tokens
KINDS = (TOKENS, DRAWN, EPOCHS)


def column(kind: str, domain: str) -> str:
    """The runs-table column of one covariate, e.g. ``pool:epochs:code``."""
    return f"{PREFIX}{kind}:{domain}"


def pool_covariates(weights: Mapping[str, float], pool_tokens: Mapping[str, float],
                    train_tokens: int) -> dict[str, float]:
    """Per-domain covariates of one run: pool tokens, drawn tokens, epochs; plus the total.

    ``weights`` may omit domains (weight 0); a domain with an empty pool and weight > 0 has
    infinite epochs, which is an error (no run can draw from it).
    """
    if isinstance(train_tokens, bool) or not isinstance(train_tokens, int) or train_tokens <= 0:
        raise ValidationError(f"must be an integer > 0, got {train_tokens!r}",
                              where="train_tokens")
    unknown = sorted(set(weights) - set(pool_tokens))
    if unknown:
        raise ValidationError(f"no pool size for domains {unknown}", where="pool_tokens")
    for d, n in pool_tokens.items():
        if isinstance(n, bool) or not isinstance(n, int | float) or not math.isfinite(n) or n < 0:
            raise ValidationError(f"must be a finite number >= 0, got {n!r}",
                                  where=f"pool_tokens[{d!r}]")
    w = {d: float(weights.get(d, 0.0)) for d in pool_tokens}
    drawn = largest_remainder(w, train_tokens)
    out: dict[str, float] = {TRAIN_TOKENS: float(train_tokens)}
    for d, available in pool_tokens.items():
        if drawn[d] > 0 and available <= 0:
            raise ValidationError(f"draws {drawn[d]} tokens from an empty pool",
                                  where=f"pool_tokens[{d!r}]")
        out[column(TOKENS, d)] = float(available)
        out[column(DRAWN, d)] = float(drawn[d])
        out[column(EPOCHS, d)] = drawn[d] / available if available > 0 else 0.0
    return out

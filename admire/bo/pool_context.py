"""The data pool's state as context for the surrogate (CausalMix): covariates of each run become
extra kernel inputs next to the weights, so runs under other pool states inform the effect of a
mixture under the current one, and a larger (or smaller) pool can be extrapolated to.

The covariates come from :func:`admire.proxy.pool_state.pool_covariates` (the one place they are
computed); this module turns them into features (log scale: returns diminish in epochs), builds
:class:`TrainingData` with them, gives the surrogate the features of any mixture under a pool
state, and says how far a prediction for a new pool extrapolates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from admire.bo.surrogate import ContextFn, MixtureSurrogate, TrainingData
from admire.errors import ValidationError
from admire.proxy.pool_state import DRAWN, EPOCHS, TOKENS, column, pool_covariates

Features = Literal["none", "epochs", "epochs+tokens"]
FEATURES: tuple[str, ...] = ("none", "epochs", "epochs+tokens")


@dataclass(frozen=True)
class PoolState:
    """Train tokens the pool holds per domain, and each rung's training tokens (cheapest first)."""

    tokens: Mapping[str, float]
    rung_tokens: tuple[int, ...]

    def covariates(self, weights: np.ndarray, rung: np.ndarray, domains: Sequence[str]
                   ) -> list[dict[str, float]]:
        """Covariates of (n, K) mixtures at rung indices (n,) under this pool."""
        return [pool_covariates(dict(zip(domains, map(float, w), strict=True)), self.tokens,
                                self.rung_tokens[int(r)])
                for w, r in zip(np.atleast_2d(weights), np.asarray(rung), strict=True)]


def feature_names(domains: Sequence[str], features: Features) -> list[str]:
    """Names of the feature columns, in order (``log1p pool:epochs:<d>``, ...)."""
    if features not in FEATURES:
        raise ValidationError(f"unknown features {features!r}; choose from {list(FEATURES)}",
                              where="pool_features")
    names = [] if features == "none" else [f"log1p {column(EPOCHS, d)}" for d in domains]
    if features == "epochs+tokens":
        names += [f"log {column(TOKENS, d)}" for d in domains]
    return names


def features_of(covariates: Sequence[Mapping[str, float]], domains: Sequence[str],
                features: Features) -> np.ndarray:
    """(n, C) features: log(1 + epochs) per domain (diminishing returns in repetition), and
    with ``epochs+tokens`` log pool tokens per domain (the pool's size itself)."""
    feature_names(domains, features)
    cols: list[np.ndarray] = []
    if features != "none":
        cols += [np.log1p([float(c[column(EPOCHS, d)]) for c in covariates]) for d in domains]
    if features == "epochs+tokens":
        cols += [np.log(np.maximum([float(c[column(TOKENS, d)]) for c in covariates], 1.0))
                 for d in domains]
    return np.column_stack(cols) if cols else np.zeros((len(covariates), 0))


def context_fn(pool: PoolState, domains: Sequence[str], features: Features) -> ContextFn:
    """The surrogate's context at prediction points: their features under ``pool``."""
    def fn(weights: np.ndarray, rung: np.ndarray) -> np.ndarray:
        return features_of(pool.covariates(weights, rung, domains), domains, features)
    return fn


def covariates_from_table(table: Mapping[str, np.ndarray], domains: Sequence[str], n: int,
                          *, where: str = "runs table") -> list[dict[str, float]]:
    """Per-row covariates read from a runs table's ``pool:`` columns (``table[col]`` arrays of
    length n); a missing column or a missing value is an error naming the row and column."""
    out: list[dict[str, float]] = [{} for _ in range(n)]
    for d in domains:
        for kind in (TOKENS, DRAWN, EPOCHS):
            col = column(kind, d)
            if col not in table:
                raise ValidationError(f"no column {col!r}: the runs were recorded without their "
                                      "pool state (give the pool they ran under)", where=where)
            values = np.asarray(table[col], dtype=float)
            bad = np.flatnonzero(~np.isfinite(values))
            if len(bad):
                raise ValidationError(f"missing pool covariate in {len(bad)} rows",
                                      where=f"{where}, row {bad[0] + 1}, column {col!r}")
            for i, v in enumerate(values):
                out[i][col] = float(v)
    return out


def training_data(weights: np.ndarray, rung: np.ndarray, y: np.ndarray,
                  rung_fidelity: tuple[float, ...], covariates: Sequence[Mapping[str, float]],
                  domains: Sequence[str], features: Features) -> TrainingData:
    """:class:`TrainingData` with the runs' pool features as context (none: no context)."""
    context = None if features == "none" else features_of(covariates, domains, features)
    return TrainingData(np.asarray(weights, float), np.asarray(rung, int), np.asarray(y, float),
                        rung_fidelity, context)


@dataclass(frozen=True)
class Extrapolation:
    """How far a prediction under a new pool reaches beyond the training runs' pool states."""

    features: list[dict[str, float | str | bool]]  # name, value, train_min, train_max, outside
    sd_ratio: float  # posterior sd at the point / median posterior sd at the training runs

    @property
    def outside(self) -> list[str]:
        return [str(f["name"]) for f in self.features if f["outside"]]

    def sentence(self) -> str:
        """A plain summary for a report."""
        parts = []
        if self.outside:
            parts.append(f"{len(self.outside)} of {len(self.features)} pool features lie "
                         f"outside the range seen in training ({', '.join(self.outside)}): the "
                         "prediction extrapolates")
        else:
            parts.append("every pool feature lies within the range seen in training")
        parts.append(f"its posterior sd is {self.sd_ratio:.2g}x the typical sd at the "
                     "training runs")
        return "; ".join(parts) + "."


def extrapolation(surrogate: MixtureSurrogate, weights: np.ndarray, rung: int,
                  names: Sequence[str]) -> Extrapolation:
    """Per feature, the new value at ``weights`` vs the training range; and the posterior sd
    there relative to the median sd at the training points (each under its own pool)."""
    data = surrogate.data
    if data is None:
        raise ValueError("the surrogate is not fitted")
    rows: list[dict[str, float | str | bool]] = []
    if data.context is not None and surrogate.context_fn is not None:
        value = surrogate.context_fn(np.atleast_2d(weights), np.array([rung]))[0]
        lo, hi = data.context.min(axis=0), data.context.max(axis=0)
        span = np.maximum(hi - lo, 1e-12)
        for j, name in enumerate(names):
            outside = bool(value[j] < lo[j] - 1e-9 * span[j] or value[j] > hi[j] + 1e-9 * span[j])
            rows.append({"name": name, "value": float(value[j]), "train_min": float(lo[j]),
                         "train_max": float(hi[j]), "outside": outside})
    _, var = surrogate.predict(np.atleast_2d(weights), rung)
    train_sd = np.sqrt(surrogate.predict_training()[1])
    ratio = float(np.sqrt(var[0]) / max(float(np.median(train_sd)), 1e-300))
    return Extrapolation(rows, ratio)

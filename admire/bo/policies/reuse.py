"""Reuse (Olmix-style): after a domain update, re-optimise only the domains it touched.

Olmix's observation: when sources are added or split, the ratios among the untouched domains
found by the previous study stay good, so a new study need only search the affected domains'
weights and the total mass they get. This policy freezes the unaffected domains' relative
shares at the previous study's best mixture (``PriorRuns.anchor``) and searches the subspace

    w_U = (1 - m) * s_U,   w_A = m * v,   m in [0, 1], v on the simplex over A

with the default policy's decisions (screen-confirm) on the warm-started model. In pool mode
(replay, a shortlist) no row lies exactly on that subspace: the policy keeps the
``focus_share`` of the target mixtures closest to it (L1 distance of the unaffected block from
its projection) and the rows of those mixtures or closer ones at every rung.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from admire.bo.candidates import (
    CONTINUOUS_SOBOL,
    LOCAL_CANDIDATES,
    LOCAL_CONCENTRATION,
    RECOMMENDATION_SOBOL,
    CandidatePool,
)
from admire.bo.history import History
from admire.bo.policies.base import Candidate, PolicyContext
from admire.bo.policies.options import ReuseOptions
from admire.bo.policies.screen_confirm import ScreenConfirm
from admire.bo.surrogate import MixtureSurrogate
from admire.errors import ConfigError
from admire.space import MixtureSpace


class Reuse(ScreenConfirm):
    """Screen-confirm restricted to the affected domains around the previous best mixture."""

    name = "reuse"
    options_model = ReuseOptions
    options: ReuseOptions

    def __init__(self, options: ReuseOptions, context: PolicyContext) -> None:
        prior = context.prior
        if prior is None:
            raise ConfigError("policy 'reuse' re-optimises an earlier study's mixture: add a "
                              "[[warm_start]] table naming it", where="policy.name")
        k = context.space.k
        self.affected = np.zeros(k, dtype=bool)
        self.affected[list(prior.affected)] = True
        if not self.affected.any() or self.affected.all():
            raise ConfigError("the update split or added no domain (or every domain), so there "
                              "is nothing to re-optimise apart from the rest: use the default "
                              "policy", where="warm_start")
        anchor = prior.anchor[~self.affected]
        self.shares = (anchor / anchor.sum() if anchor.sum() > 0
                       else np.full(len(anchor), 1.0 / len(anchor)))
        # Subspace coordinates: one weight per affected domain, then the unaffected mass.
        n_a = int(self.affected.sum())
        self.subspace = MixtureSpace(tuple(f"a{i}" for i in range(n_a + 1)),
                                     (0.0,) * (n_a + 1), (1.0,) * (n_a + 1))
        if context.pool is not None:
            context = replace(context, pool=self._focus(context, options))
        super().__init__(options, context)

    # --- the subspace ----------------------------------------------------------------------

    def distance(self, weights: np.ndarray) -> np.ndarray:
        """L1 distance of each mixture's unaffected block from the frozen shares."""
        block = np.atleast_2d(weights)[:, ~self.affected]
        return np.abs(block - block.sum(axis=1, keepdims=True) * self.shares).sum(axis=1)

    def _focus(self, context: PolicyContext, options: ReuseOptions) -> CandidatePool:
        """The pool's rows within the ``focus_share`` of target mixtures closest to the
        subspace (``focus = "random"``: a seeded random order of the mixtures instead)."""
        pool, target = context.pool, context.target
        assert pool is not None
        if options.focus == "random":
            rng = np.random.default_rng(context.seed_for("focus"))
            distance = rng.random(int(pool.mixture_id.max()) + 1)[pool.mixture_id]
        else:
            distance = self.distance(pool.weights)
        at_target = distance[pool.rung == target]
        cut = float(np.quantile(at_target if len(at_target) else distance, options.focus_share))
        keep = np.flatnonzero(distance <= cut + 1e-12)
        return CandidatePool(pool.weights[keep], pool.rung[keep],
                             tuple(pool.ids[i] for i in keep))

    def to_full(self, sub: np.ndarray) -> np.ndarray:
        """Subspace points (n, |A| + 1) -> mixtures (n, K) within the study's bounds."""
        sub = np.atleast_2d(sub)
        w = np.zeros((len(sub), self.context.space.k))
        w[:, self.affected] = sub[:, :-1]
        w[:, ~self.affected] = sub[:, -1:] * self.shares
        return self.context.space.project(w)

    def to_sub(self, weights: np.ndarray) -> np.ndarray:
        w = np.atleast_2d(weights)
        return np.column_stack([w[:, self.affected], w[:, ~self.affected].sum(axis=1)])

    def sobol(self, n: int, seed: int) -> np.ndarray:
        return self.to_full(self.subspace.sobol(n, seed=seed))

    # --- decisions and recommendation (continuous mode; pool mode uses the focus pool) -------

    def needs_start(self, history: History) -> bool:
        return history.n_trials < self.options.initial_trials  # the prior carries the model

    def start(self, history: History, rung: int = 0, fallback: bool = True
              ) -> Candidate | None:
        if self.context.pool is not None:
            return super().start(history, rung, fallback)
        n = history.n_trials
        return Candidate(self.sobol(n + 1, self.context.seed)[n], rung)

    def open_candidates(self, history: History, surrogate: MixtureSurrogate,
                        target_only: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None,
                                                    np.ndarray]:
        if self.context.pool is not None:
            return super().open_candidates(history, surrogate, target_only)
        n = history.n_trials
        centre = self.to_sub(self.best_mixture(history))[0]
        rng = np.random.default_rng(self.context.seed_for("local", n))
        local = self.to_full(rng.dirichlet(LOCAL_CONCENTRATION * centre + 0.05,
                                           size=LOCAL_CANDIDATES))
        mixtures = np.unique(np.concatenate([
            self.sobol(CONTINUOUS_SOBOL, self.context.seed_for("cand", n)), local,
            self.to_full(self.to_sub(self.context.prior.anchor))]), axis=0)
        return self.fresh_pairs(history, mixtures, target_only)

    def recommendation_set(self, history: History) -> np.ndarray:
        if self.context.pool is not None:
            return super().recommendation_set(history)
        seed = self.context.seed_for("rec", history.observations.n)
        return np.unique(np.concatenate([history.observations.weights,
                                         self.sobol(RECOMMENDATION_SOBOL, seed)]), axis=0)

"""Olmix (Chen et al. 2026): a swarm of cheap runs, a log-linear mixing law, a KL-penalised pick.

What a practitioner following Olmix does, on admire's Study and loop:

1. **Swarm**: ``swarm_share`` of the budget goes to mixtures drawn around a prior at the cheapest
   rung (continuous: Dirichlet(K * prior), so a uniform prior is the flat Dirichlet; pool: a
   seeded random choice among open cheapest rows, preferring mixtures that also have a target
   row; the pool is itself a recorded swarm, so drawing from it uniformly keeps its spread).
2. **Fit**: the log-linear law ``L(w) = c + exp(b + t . w)`` on the cheapest rung's runs
   (:mod:`admire.bo.policies.loglinear`: floor and ridge by leave-one-out).
3. **Propose and confirm**: target runs go to the target mixtures with the best predicted
   objective minus ``kl_weight`` * KL(w || prior), in order (continuous: the optimum of that
   score over the simplex first, then the best of a seeded candidate set around it).

The model is the cheapest rung's regression throughout (target runs never refit it), as in Olmix;
target runs only set the level of the reported prediction. Everything is a function of the
history and the study seed, so a reloaded study proposes what the saved one would have.
"""

from __future__ import annotations

import numpy as np

from admire.bo.history import History
from admire.bo.policies.base import Candidate, Policy, Recommendation, propose_sequentially
from admire.bo.policies.loglinear import (
    TINY,
    LogLinearLaw,
    fit_log_linear,
    penalised_optimum,
    penalised_score,
)
from admire.bo.policies.options import OlmixOptions

BUDGET_TOL = 1e-9
CONFIRM_SOBOL = 512  # continuous mode: Sobol mixtures ranked for confirmations
CONFIRM_LOCAL = 128  # ... and Dirichlet draws around the penalised optimum
LOCAL_CONCENTRATION = 200.0


class Olmix(Policy):
    """Swarm at the cheapest rung, log-linear law, KL-penalised confirmations at the target."""

    name = "olmix"
    options_model = OlmixOptions
    needs_budget = True
    options: OlmixOptions

    # --- the pieces Olmix is made of -----------------------------------------------------------

    def prior(self) -> np.ndarray:
        """The mixture the swarm is drawn around and the KL penalty pulls toward: the mean of
        the pool's distinct mixtures ("natural"; without a pool, uniform), or uniform, inside
        the bounds and floored away from zero so KL stays finite."""
        space, pool = self.context.space, self.context.pool
        if self.options.prior == "natural" and pool is not None:
            centre = np.unique(pool.weights, axis=0).mean(axis=0)
        else:
            centre = np.full(space.k, 1.0 / space.k)
        centre = np.maximum(space.project(centre), TINY)
        return centre / centre.sum()

    def law(self, history: History) -> LogLinearLaw:
        """The mixing law fitted to the cheapest rung's runs (cached per observation set)."""
        cheap = history.observations.at(0)
        key = (cheap.weights.tobytes(), cheap.y.tobytes())
        if getattr(self, "_law_key", None) != key:
            self._law = fit_log_linear(cheap.weights, cheap.y)
            self._law_key = key
        return self._law

    def score(self, history: History, weights: np.ndarray) -> np.ndarray:
        """Olmix's objective at (n, K) mixtures: predicted gain minus the KL penalty."""
        return penalised_score(self.law(history), weights, self.prior(), self.options.kl_weight)

    def optimum(self, history: History) -> np.ndarray:
        """The mixture with the best :meth:`score` over the simplex within the bounds."""
        space = self.context.space
        w = penalised_optimum(self.law(history), self.prior(), self.options.kl_weight,
                              space.lower_array, space.upper_array)
        return space.project(w)

    # --- proposals -----------------------------------------------------------------------------

    def swarm_spent(self, history: History) -> float:
        """Target-run units spent or committed at the cheapest rung."""
        obs, cost = history.observations, history.budget.rung_cost
        return float(obs.cost[obs.rung == 0].sum()) + float(
            cost[0] * np.count_nonzero(history.pending_rung == 0))

    def swarming(self, history: History) -> bool:
        """Another swarm run fits in the swarm's share (at its expected cost)."""
        total = history.budget.total
        assert total is not None, "olmix needs a budget (checked by the Study)"
        next_cost = float(history.budget.rung_cost[0])
        return self.swarm_spent(history) + next_cost <= self.options.swarm_share * total \
            + BUDGET_TOL

    def propose(self, history: History, n: int) -> list[Candidate]:
        return propose_sequentially(history, n, self.next)

    def next(self, history: History) -> Candidate | None:
        if self.swarming(history):
            pick = self.swarm_pick(history)
            if pick is not None:
                return pick
        return self.confirm_pick(history)

    def swarm_pick(self, history: History) -> Candidate | None:
        """A swarm mixture at the cheapest rung (None: the pool has no open cheapest row)."""
        n = history.n_trials
        rng = np.random.default_rng(self.context.seed_for("olmix-swarm", n))
        if self.context.pool is None:
            space = self.context.space
            draw = rng.dirichlet(np.maximum(space.k * self.prior(), 1e-3))
            slack = 1.0 - float(space.lower_array.sum())
            return Candidate(space.project(space.lower_array + slack * draw), 0)
        if n == 0:  # the seed's first cheapest row, as every policy starting there
            return self.candidate_at(self.first_row(self.pool.rows_at(0)))
        cheap = self.open_rows_at(history, 0)
        confirmable = cheap[self.pool.has_row_at(cheap, self.context.target)]
        choices = confirmable if len(confirmable) else cheap
        return self.candidate_at(int(rng.choice(choices))) if len(choices) else None

    def confirm_pick(self, history: History) -> Candidate | None:
        """The open target candidate with the best score."""
        target = self.context.target
        if self.context.pool is not None:
            rows = self.open_rows_at(history, target)
            if not len(rows):
                return None
            scores = self.score(history, self.pool.weights[rows])
            best = int(np.argmax(scores))  # ties: the first row
            return self.candidate_at(int(rows[best]), float(scores[best]))
        mixtures = self.confirmation_set(history)
        fresh = np.array([not history.is_used(w, target) for w in mixtures])
        if not fresh.any():
            return None
        mixtures = mixtures[fresh]
        scores = self.score(history, mixtures)
        best = int(np.argmax(scores))
        return Candidate(mixtures[best], target, None, float(scores[best]))

    def confirmation_set(self, history: History) -> np.ndarray:
        """Continuous mode: the penalised optimum first, then a fixed seeded set around it and
        over the simplex, and the swarm's mixtures (so confirmations walk down one ranking)."""
        space = self.context.space
        optimum = self.optimum(history)
        rng = np.random.default_rng(self.context.seed_for("olmix-confirm"))
        local = space.project(rng.dirichlet(LOCAL_CONCENTRATION * optimum + 0.05,
                                            size=CONFIRM_LOCAL))
        sobol = space.sobol(CONFIRM_SOBOL, seed=self.context.seed_for("olmix-sobol"))
        seen = history.observations.at(0).weights
        return np.concatenate([optimum[None, :], local, sobol, seen])

    # --- recommendation ------------------------------------------------------------------------

    def recommend(self, history: History, *, interval: bool = True) -> Recommendation:
        """Among the mixtures run at the target once there are any, else among every target
        candidate, the best :meth:`score`. Its predicted value is the law's, shifted by the
        mean gap between the target runs and the law (the law is fitted one rung down);
        before any target run it is the cheapest rung's prediction."""
        obs, target = history.observations, self.context.target
        at_target = obs.at(target)
        if at_target.n:
            mixtures = np.unique(at_target.weights, axis=0)
        elif self.context.pool is not None:
            mixtures = self.pool.mixtures_at(target)
        else:
            mixtures = self.optimum(history)[None, :]
        best = int(np.argmax(self.score(history, mixtures)))
        law = self.law(history)
        offset = 0.0
        if at_target.n and target != 0:
            offset = float(np.mean(at_target.y - law.predict(at_target.weights)))
        predicted = float(law.predict(mixtures[best][None, :])[0]) + offset
        return self.recommendation(mixtures[best], predicted, None, history)

"""Cost-aware multi-fidelity knowledge gradient: every run chosen by its value per unit cost.

The value of running (mixture, rung) is the expected rise of the best target-rung posterior mean
(the knowledge gradient) divided by the rung's expected cost. An optional cap (``proxy_share``)
stops spending below the target rung once that share of the budget is used: the fitted rung
correlation tends to exceed what the data supports, and cost weighting alone keeps buying cheap
runs.
"""

from __future__ import annotations

import numpy as np

from admire.bo import acquisition
from admire.bo.history import History
from admire.bo.policies.base import Candidate, propose_sequentially
from admire.bo.policies.model import ModelPolicy
from admire.bo.policies.options import KnowledgeGradientOptions
from admire.bo.surrogate import MixtureSurrogate


def proxy_spent(history: History, target: int) -> float:
    """Target-run units spent or committed below the target rung, in units of the expected
    target run (completed runs at their cost, trials in flight at their rung's)."""
    obs, costs = history.observations, history.budget.rung_cost
    below = obs.rung < target
    done = float(obs.cost[below].sum())
    running = float(costs[history.pending_rung[history.pending_rung < target]].sum())
    return (done + running) / float(costs[target])


def score_candidates(policy: ModelPolicy, history: History, surrogate: MixtureSurrogate,
                     weights: np.ndarray, rungs: np.ndarray, mixtures: np.ndarray, *,
                     kg_targets: str = "all", cost_intercept: float = 0.0) -> np.ndarray:
    """Acquisition value per unit cost of each open (mixture, rung)."""
    target = policy.context.target
    if history.n_pending:
        surrogate = surrogate.with_pending(history.pending_weights, history.pending_rung)
    costs = history.budget.rung_cost / history.budget.rung_cost[target] + cost_intercept
    targets = (policy.recommendation_set(history) if policy.context.pool is not None
               else mixtures)
    observed = policy.observed_at_target(history)
    if kg_targets == "recommendable" and len(observed):
        kg = acquisition.knowledge_gradient(surrogate, weights, rungs, observed, target,
                                            candidates_recommendable=True)
    else:
        kg = acquisition.knowledge_gradient(surrogate, weights, rungs, targets, target)
    return kg / costs[rungs]


class KnowledgeGradient(ModelPolicy):
    """The open candidate with the highest acquisition value per unit cost."""

    name = "kg"
    options_model = KnowledgeGradientOptions
    options: KnowledgeGradientOptions

    def target_only(self, history: History) -> bool:
        share, total = self.options.proxy_share, history.budget.total
        if share is None or total is None:
            return False
        return proxy_spent(history, self.context.target) >= share * total

    def propose(self, history: History, n: int) -> list[Candidate]:
        return propose_sequentially(history, n, self.next)

    def next(self, history: History) -> Candidate | None:
        if self.needs_start(history):
            return self.start(history)
        surrogate = self.model(history)
        weights, rungs, rows, mixtures = self.open_candidates(
            history, surrogate, target_only=self.target_only(history))
        if not len(weights):
            return None
        scores = score_candidates(self, history, surrogate, weights, rungs, mixtures,
                                  kg_targets=self.options.kg_targets,
                                  cost_intercept=self.options.cost_intercept)
        return self.as_candidate(weights, rungs, rows, scores)

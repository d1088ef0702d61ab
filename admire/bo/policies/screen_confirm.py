"""Screen-confirm: screen cheaply, then confirm the favourites at the target rung.

The proxy share of the budget goes to space-filling mixtures at the cheapest rung (in pool mode,
mixtures that also have a target row, since only those can be recommended); then every run goes
to the target rung, at the open mixture with the best posterior mean, in order. Confirming the
screened favourites beat acquisition-driven target runs in replay: KG and EI at the target
explore where the target model is unsure, which is rarely where the best mixture is.
"""

from __future__ import annotations

from admire.bo.history import History
from admire.bo.policies.base import Candidate, propose_sequentially
from admire.bo.policies.kg import proxy_spent, score_candidates
from admire.bo.policies.model import ModelPolicy
from admire.bo.policies.options import ScreenConfirmOptions


class ScreenConfirm(ModelPolicy):
    """Cheapest-rung screens up to ``proxy_share`` of the budget, then confirmations."""

    name = "screen-confirm"
    options_model = ScreenConfirmOptions
    needs_budget = True
    options: ScreenConfirmOptions

    def screening(self, history: History) -> bool:
        total = history.budget.total
        assert total is not None, "screen-confirm needs a budget (checked by the Study)"
        return proxy_spent(history, self.context.target) < self.options.proxy_share * total

    def propose(self, history: History, n: int) -> list[Candidate]:
        return propose_sequentially(history, n, self.next)

    def next(self, history: History) -> Candidate | None:
        if self.needs_start(history) or self.screening(history):
            return self.start(history)
        surrogate = self.model(history)
        weights, rungs, rows, mixtures = self.open_candidates(history, surrogate,
                                                              target_only=True)
        if not len(weights):
            return None
        target = self.context.target
        if (rungs == target).all():
            # Conditioning on pending points at their posterior mean leaves the mean as it is,
            # so confirmations need no kriging believer.
            mean, _ = surrogate.predict(weights, target)
            return self.as_candidate(weights, rungs, rows, mean, value=False)
        # No target candidate left (a pool without target rows): the cost-aware KG decides.
        scores = score_candidates(self, history, surrogate, weights, rungs, mixtures)
        return self.as_candidate(weights, rungs, rows, scores)


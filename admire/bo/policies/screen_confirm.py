"""Screen-confirm: screen cheaply, then confirm the favourites at the target rung.

Screens are space-filling mixtures at a cheaper rung (in pool mode, mixtures that also have a
target row first, since only those can be recommended); confirmations are target runs at the
open mixture with the best posterior mean (``confirm = "mean"``, the default in a pool) or the
best expected improvement (``"ei"``, the default live, in continuous mode). How much to screen:

* ``screen = "share"``: a fixed ``proxy_share`` of the budget at the cheapest rung.
* ``screen = "value"``: a cheap run of relative cost c whose objective correlates rho with the
  target's tells about rho^2 of what a target run tells, at c of the price, so screening pays
  while v = rho^2 / c > 1. The screening rung is the one with the highest v, and the budget
  share it gets is ``proxy_share * (1 - 1/v)``: nothing where a cheap run is worth less than
  its price, up to ``proxy_share`` where it is nearly free. rho starts at
  ``prior_correlation`` and moves to the correlation observed over the mixtures run at both
  rungs as confirmations arrive (each observed pair counting as much as 1/5 of the prior).

The first ``target_design`` target runs go to random mixtures instead (references count):
confirmations cluster near the optimum, where the cheap rungs say little about how the target
differs from them elsewhere, and a model fitted to them alone is overconfident at mixtures it
never ran there. Four such runs raise held-out coverage (bench/results/calibration_design4.md)
but cost regret across the suite (suite_b10_design.md), so the default is none.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from admire.bo.history import History
from admire.bo.policies.base import Candidate, propose_sequentially
from admire.bo.policies.kg import proxy_spent, score_candidates
from admire.bo.policies.model import ModelPolicy
from admire.bo.policies.options import ScreenConfirmOptions
from admire.bo.surrogate import MixtureSurrogate
from admire.space import mixture_keys_array

PRIOR_PAIRS = 5.0  # the prior correlation weighs as much as this many observed pairs


def observed_correlation(history: History, rung: int, target: int, prior: float) -> float:
    """Correlation of the objective at ``rung`` with the target's over the mixtures run at
    both (replicates averaged), shrunk toward ``prior``."""
    obs = history.observations
    values: dict[tuple, dict[int, list[float]]] = {}
    for key, r, y in zip(map(tuple, mixture_keys_array(obs.weights).tolist()), obs.rung, obs.y,
                         strict=True):
        if r in (rung, target):
            values.setdefault(key, {}).setdefault(int(r), []).append(float(y))
    pairs = np.array([(np.mean(v[rung]), np.mean(v[target])) for v in values.values()
                      if rung in v and target in v]).reshape(-1, 2)
    n = len(pairs)
    if n < 3 or pairs[:, 0].std() == 0 or pairs[:, 1].std() == 0:
        return prior
    rho = float(np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1])
    return (n * rho + PRIOR_PAIRS * prior) / (n + PRIOR_PAIRS)


class ScreenConfirm(ModelPolicy):
    """Cheaper-rung screens while they are worth it, then target-rung confirmations."""

    name = "screen-confirm"
    options_model = ScreenConfirmOptions
    needs_budget = True
    options: ScreenConfirmOptions

    @property
    def prior_screens(self) -> str:
        """How this study screens: ``options.prior_screens`` with earlier studies' runs, the
        space-filling screens of a fresh study without."""
        return "space-filling" if self.context.prior is None else self.options.prior_screens

    @property
    def confirm_rule(self) -> str:
        """How target runs are chosen: ``options.confirm``, where ``auto`` is the posterior
        mean in a pool and expected improvement live. In a pool the best-mean runs spread over
        the best recorded rows; live they would all land near one screen's pick."""
        if self.options.confirm != "auto":
            return self.options.confirm
        return "mean" if self.context.pool is not None else "ei"

    def needs_start(self, history: History) -> bool:
        if self.prior_screens != "space-filling":
            return False  # the earlier studies' runs already fit a model
        return super().needs_start(history)

    def screen_plan(self, history: History) -> tuple[int, float]:
        """(rung to screen at, target-run units to spend below the target)."""
        total, target = history.budget.total, self.context.target
        assert total is not None, "screen-confirm needs a budget (checked by the Study)"
        if target == 0 or self.prior_screens == "none":
            return 0, 0.0
        if self.options.screen == "share":
            return 0, self.options.proxy_share * total
        relative = history.budget.rung_cost / history.budget.rung_cost[target]
        values = [observed_correlation(history, r, target, self.options.prior_correlation) ** 2
                  / relative[r] for r in range(target)]
        rung = int(np.argmax(values))
        value = values[rung]
        share = self.options.proxy_share * (1.0 - 1.0 / value) if value > 1 else 0.0
        return rung, share * total

    def screening(self, history: History) -> bool:
        _, budget = self.screen_plan(history)
        if self.options.screen == "share":
            return proxy_spent(history, self.context.target) < budget
        below = history.observations.rung < self.context.target
        spent = float(history.observations.cost[below].sum()) + float(
            history.budget.rung_cost[history.pending_rung[
                history.pending_rung < self.context.target]].sum())
        return spent < budget

    def designing(self, history: History) -> bool:
        """Whether the next target run is a design run: fewer than ``target_design`` target
        runs made or in flight (whoever chose them: references count)."""
        target = self.context.target
        made = int((history.observations.rung == target).sum()
                   + (history.pending_rung == target).sum())
        return made < self.options.target_design

    def propose(self, history: History, n: int) -> list[Candidate]:
        return propose_sequentially(history, n, self.next)

    def next(self, history: History) -> Candidate | None:
        if self.needs_start(history):
            return self.start(history)
        if self.screening(history):
            rung, _ = self.screen_plan(history)
            screen = (self.favourite(history, rung) if self.prior_screens == "favourites"
                      else self.start(history, rung=rung,
                                      fallback=self.options.screen == "share"))
            if screen is not None:
                return screen
        if self.designing(history):
            design = self.start(history, rung=self.context.target, fallback=False)
            if design is not None:
                return design
        surrogate = self.model(history)
        weights, rungs, rows, mixtures = self.open_candidates(history, surrogate,
                                                              target_only=True)
        if not len(weights):
            return None
        target = self.context.target
        if (rungs == target).all():
            return self.as_candidate(weights, rungs, rows,
                                     self.confirm_scores(history, surrogate, weights),
                                     value=self.confirm_rule == "ei")
        # No target candidate left (a pool without target rows): the cost-aware KG decides.
        scores = score_candidates(self, history, surrogate, weights, rungs, mixtures)
        return self.as_candidate(weights, rungs, rows, scores)

    def favourite(self, history: History, rung: int) -> Candidate | None:
        """A screen at ``rung`` of the open mixture the model expects most of at the target
        (in a pool, among the rows whose mixture can be confirmed there)."""
        surrogate = self.model(history)
        weights, rungs, rows, _ = self.open_candidates(history, surrogate, target_only=False)
        keep = rungs == rung
        if rows is not None:
            keep &= self.pool.has_row_at(rows, self.context.target)
        if not keep.any():
            return None
        weights, rungs = weights[keep], rungs[keep]
        rows = None if rows is None else rows[keep]
        return self.as_candidate(weights, rungs, rows,
                                 surrogate.predict_mean(weights, self.context.target),
                                 value=False)

    def confirm_scores(self, history: History, surrogate: MixtureSurrogate,
                       weights: np.ndarray) -> np.ndarray:
        """How good a target run of each open mixture looks: its posterior mean, or its
        expected improvement over the best mean among the mixtures run at the target.

        Conditioning on pending points at their posterior mean leaves the mean as it is, so a
        batch of mean-based confirmations needs no kriging believer; EI uses one.
        """
        target = self.context.target
        if self.confirm_rule == "mean":
            return surrogate.predict_mean(weights, target)
        if history.n_pending:
            surrogate = surrogate.with_pending(history.pending_weights, history.pending_rung)
        mean, var = surrogate.predict(weights, target)
        observed = self.observed_at_target(history)
        best = (surrogate.predict_mean(observed, target).max() if len(observed)
                else mean.max())
        sd = np.sqrt(np.maximum(var, 1e-18))
        z = (mean - best) / sd
        return (mean - best) * norm.cdf(z) + sd * norm.pdf(z)

"""``mobo``: multi-objective, multi-fidelity BO of mixtures.

One multi-fidelity GP (admire's ICM ``MixtureSurrogate``) per tracked outcome; target runs go
to the open mixture with the best qLogNEHVI at the target rung (constraints passed to the
acquisition), after a share of the budget screened at the cheapest rung as the default policy
does (``screen_share``; 0 makes it the single-fidelity multi-objective baseline: every run at
the target). Its recommendation is the predicted Pareto set at the target rung
(:class:`admire.bo.pareto.ParetoRecommendation`); ``recommend`` returns the trade-off's pick.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from admire.bo import mo_acquisition, pareto
from admire.bo.fitting import SurrogateFit
from admire.bo.history import History, Observations
from admire.bo.intervals import Z90
from admire.bo.outcomes import OutcomeSpec
from admire.bo.policies.base import (
    Candidate,
    PolicyContext,
    Recommendation,
    propose_sequentially,
)
from admire.bo.policies.kg import proxy_spent
from admire.bo.policies.model import ModelPolicy
from admire.bo.policies.options import MultiObjectiveOptions
from admire.bo.reach import withheld_note
from admire.bo.surrogate import MixtureSurrogate
from admire.errors import ConfigError


class MultiObjectiveBO(ModelPolicy):
    """Cheap-rung screens, then qLogNEHVI target runs; recommends the Pareto set."""

    name = "mobo"
    options_model = MultiObjectiveOptions
    needs_budget = True
    options: MultiObjectiveOptions

    def __init__(self, options: MultiObjectiveOptions, context: PolicyContext) -> None:
        super().__init__(options, context)
        if context.outcomes is None:
            raise ConfigError("policy 'mobo' needs two or more [[objectives]] in the study "
                              "config", where="policy.name")
        spec = context.outcomes
        unknown = sorted(set(options.tradeoff or {}) - set(spec.objectives))
        if unknown:
            raise ConfigError(f"tradeoff names {unknown}, not objectives of this study "
                              f"{list(spec.objectives)}", where="policy.tradeoff")
        self.fits = [SurrogateFit(options.build_surrogate(self._input_bounds()),
                                  context.rung_fidelity, context.seed_for("outcome", j))
                     for j in range(len(spec.metrics))]

    @property
    def spec(self) -> OutcomeSpec:
        assert self.context.outcomes is not None
        return self.context.outcomes

    def models(self, history: History) -> list[MixtureSurrogate]:
        """One surrogate per outcome, fitted to its values oriented for maximisation."""
        obs = history.observations
        if obs.outcomes is None:
            raise ValueError("a multi-objective study's history carries every outcome")
        signs = self.spec.signs
        return [fit.fit(Observations(obs.weights, obs.rung, signs[j] * obs.outcomes[:, j],
                                     obs.cost))
                for j, fit in enumerate(self.fits)]

    def model(self, history: History) -> MixtureSurrogate:
        return self.models(history)[0]  # the first objective: the study's ``objective``

    def state(self) -> dict[str, Any] | None:
        states = [fit.state() for fit in self.fits]
        return None if all(s is None for s in states) else {"outcomes": states}

    def restore(self, state: dict[str, Any]) -> None:
        for fit, saved in zip(self.fits, state.get("outcomes", []), strict=False):
            if saved is not None:
                fit.restore(saved)

    # --- proposals ---------------------------------------------------------------------------

    @property
    def start_rung(self) -> int:
        return 0 if self.options.screen_share > 0 else self.context.target

    def propose(self, history: History, n: int) -> list[Candidate]:
        return propose_sequentially(history, n, self.next)

    def next(self, history: History) -> Candidate | None:
        target = self.context.target
        if self.needs_start(history):
            return self.start(history, rung=self.start_rung)
        total = history.budget.total
        assert total is not None, "mobo needs a budget (checked by the Study)"
        if target > 0 and proxy_spent(history, target) < self.options.screen_share * total:
            screen = self.start(history, rung=0)
            if screen is not None:
                return screen
        surrogates = self.models(history)
        weights, rungs, rows, _ = self.open_candidates(history, surrogates[0],
                                                       target_only=True)
        at_target = rungs == target
        if not at_target.any():
            return None
        weights, rungs = weights[at_target], rungs[at_target]
        rows = None if rows is None else rows[at_target]
        obs = history.observations
        pending = history.pending_weights[history.pending_rung == target]
        acqf = mo_acquisition.target_nehvi(
            surrogates, self.spec, target, np.unique(obs.weights, axis=0), pending,
            mc_samples=self.options.mc_samples,
            seed=self.context.seed_for("nehvi", history.n_trials))
        return self.as_candidate(weights, rungs, rows, mo_acquisition.score(acqf, weights))

    # --- recommendation ----------------------------------------------------------------------

    def pareto(self, history: History, *, interval: bool = True
               ) -> pareto.ParetoRecommendation:
        """The predicted non-dominated, feasible mixtures at the target rung (among the
        mixtures run there, or every candidate with ``recommend_from = "all"``)."""
        surrogates = self.models(history)
        target = self.context.target
        observed = self.observed_at_target(history)
        candidates = observed if len(observed) else self.recommendation_set(history)
        signs = self.spec.signs
        withheld = withheld_note(int((history.observations.rung == target).sum()))
        interval = interval and withheld is None
        raw = np.empty((len(candidates), len(surrogates)))
        sd = np.empty_like(raw) if interval else None
        for j, surrogate in enumerate(surrogates):
            if sd is None:
                raw[:, j] = signs[j] * surrogate.predict_mean(candidates, target)
                continue
            mean, var = surrogate.predict(candidates, target)
            raw[:, j] = signs[j] * mean
            sd[:, j] = surrogate.interval_scale(target) * np.sqrt(var)
        mixtures = [self.context.space.as_dict(w) for w in candidates]
        front = pareto.build(self.spec, mixtures, raw, sd, history,
                             self.context.rung_names[-1],
                             tradeoff=pareto.tradeoff_weights(self.spec, self.options.tradeoff),
                             how=self.options.scalarization, basis="model")
        return front if withheld is None else replace(front, interval_note=withheld)

    def recommend(self, history: History, *, interval: bool = True) -> Recommendation:
        """The trade-off's pick, with its predicted value of the study's first objective."""
        front = self.pareto(history, interval=interval)
        choice = front.choice
        metric = self.spec.objectives[0]
        sign = self.spec.signs[0]
        weights = np.array([choice.mixture[d] for d in self.context.space.domains])
        sd = None
        if choice.lower90 is not None and choice.upper90 is not None:
            sd = (choice.upper90[metric] - choice.lower90[metric]) / (2 * Z90)
        return replace(self.recommendation(weights, sign * choice.predicted[metric], sd, history),
                       interval_note=front.interval_note)

"""What every policy on admire's multi-fidelity GP shares: the fit, the start design, the
candidates of a decision, and the recommendation at the target rung."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from admire.bo import acquisition
from admire.bo.candidates import continuous_mixtures, recommendation_mixtures
from admire.bo.fitting import SurrogateFit
from admire.bo.history import History, Observations
from admire.bo.policies.base import Candidate, Policy, PolicyContext, Recommendation
from admire.bo.policies.options import ModelOptions
from admire.bo.reach import IntervalReach, interval_reach
from admire.bo.surrogate import MixtureSurrogate
from admire.errors import ConfigError


class ModelPolicy(Policy):
    """A policy whose decisions and recommendation come from one fitted surrogate."""

    options: ModelOptions
    uses_prior = True

    def __init__(self, options: ModelOptions, context: PolicyContext) -> None:
        super().__init__(options, context)
        surrogate = options.build_surrogate(self._input_bounds())
        if context.prior is not None and options.surrogate != "icm":
            raise ConfigError("warm_start needs surrogate 'icm' (earlier studies enter as its "
                              f"tasks), got {options.surrogate!r}", where="policy.surrogate")
        self.fit = SurrogateFit(surrogate, context.rung_fidelity, context.seed, context.prior)
        self._prior_pick: np.ndarray | None = None

    def _input_bounds(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The range weights are scaled by with ``input_scale = "range"``: the candidates'
        range in pool mode, the search-space bounds otherwise; None keeps raw weights."""
        space, pool = self.context.space, self.context.pool
        if pool is None:
            return self.options.input_bounds(space.lower_array, space.upper_array)
        return self.options.input_bounds(pool.weights.min(axis=0), pool.weights.max(axis=0))

    def model(self, history: History) -> MixtureSurrogate:
        return self.fit.fit(history.observations)

    def observe(self, history: History) -> None:
        if history.observations.n:
            self.model(history)

    def state(self) -> dict[str, Any] | None:
        return self.fit.state()

    def restore(self, state: dict[str, Any]) -> None:
        self.fit.restore(state)

    # --- decisions ---------------------------------------------------------------------------

    def needs_start(self, history: History) -> bool:
        return history.observations.n == 0 or history.n_trials < self.options.initial_trials

    def start(self, history: History, rung: int = 0, fallback: bool = True
              ) -> Candidate | None:
        """A space-filling point at ``rung`` (the cheapest by default). In pool mode: a random
        open row of that rung, preferring mixtures that also have a target row (only those can
        be recommended), else any open row if ``fallback``; the study's very first pick is the
        seed's draw among all the rung's rows."""
        n = history.n_trials
        if self.context.pool is None:
            point = self.context.space.sobol(n + 1, seed=self.context.seed)[n]
            return Candidate(point, rung)
        pool = self.pool
        if n == 0:
            return self.candidate_at(self.first_row(pool.rows_at(rung)))
        open_rows = pool.open_rows(history)
        at_rung = open_rows[pool.rung[open_rows] == rung]
        confirmable = at_rung[pool.has_row_at(at_rung, self.context.target)]
        choices = (confirmable if len(confirmable) else at_rung if len(at_rung)
                   else open_rows if fallback else at_rung)
        if not len(choices):
            return None
        rng = np.random.default_rng(self.context.seed_for("start", n))
        return self.candidate_at(int(rng.choice(choices)))

    def open_candidates(self, history: History, surrogate: MixtureSurrogate,
                        target_only: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None,
                                                    np.ndarray]:
        """(weights, rungs, pool rows or None, candidate mixtures) open for a decision;
        ``target_only`` keeps the target rung (when it has any open candidate in a pool)."""
        target = self.context.target
        if self.context.pool is not None:
            rows = self.pool.open_rows(history)
            if target_only:
                at_target = rows[self.pool.rung[rows] == target]
                rows = at_target if len(at_target) else rows
            return self.pool.weights[rows], self.pool.rung[rows], rows, self.pool.weights[rows]
        mixtures = continuous_mixtures(
            self.context.space, history, self.context.seed_for, self.best_mixture(history),
            lambda w: surrogate.predict(w, target)[0])
        return self.fresh_pairs(history, mixtures, target_only)

    def fresh_pairs(self, history: History, mixtures: np.ndarray, target_only: bool
                    ) -> tuple[np.ndarray, np.ndarray, None, np.ndarray]:
        """Continuous mode's open candidates: every (mixture, rung) pair of ``mixtures`` not
        run or in flight (at the target rung only with ``target_only``)."""
        n_rungs = len(self.context.rung_names)
        weights = np.repeat(mixtures, n_rungs, axis=0)
        rungs = np.tile(np.arange(n_rungs), len(mixtures))
        fresh = np.array([not history.is_used(w, r) for w, r in zip(weights, rungs,
                                                                    strict=True)])
        if target_only:
            fresh &= rungs == self.context.target
        return weights[fresh], rungs[fresh], None, mixtures

    def as_candidate(self, weights: np.ndarray, rungs: np.ndarray, rows: np.ndarray | None,
                     scores: np.ndarray, value: bool = True) -> Candidate:
        best = int(np.argmax(scores))
        score = float(scores[best]) if value else None
        if rows is not None:
            return self.candidate_at(int(rows[best]), score)
        return Candidate(weights[best], int(rungs[best]), None, score)

    # --- recommendation ----------------------------------------------------------------------

    def observed_at_target(self, history: History) -> np.ndarray:
        """Mixtures run at the target rung, which ``recommend_from = "observed"`` picks from;
        in a warm-started study also :meth:`prior_pick` (``recommend_prior``), once the study
        has a target run."""
        obs = history.observations
        if self.options.recommend_from != "observed":
            return np.zeros((0, self.context.space.k))
        observed = obs.weights[obs.rung == self.context.target]
        if len(observed) and self.context.prior is not None and self.options.recommend_prior:
            observed = np.vstack([observed, self.prior_pick(history)[None, :]])
        return np.unique(observed, axis=0)

    def prior_pick(self, history: History) -> np.ndarray:
        """The mixture the earlier studies' runs alone point to: a warm-started study's answer
        before its first run. It stays a candidate after the study's own target runs arrive,
        so they must beat it to replace it (bench/results/reuse_replay*.md: without this, a
        study that started at the best mixture often left it after its first target run)."""
        if self._prior_pick is None:
            empty = replace(history, observations=Observations.empty(self.context.space.k),
                            n_trials=0)
            fit = SurrogateFit(self.options.build_surrogate(self._input_bounds()),
                               self.context.rung_fidelity, self.context.seed, self.context.prior)
            candidates = self.recommendation_set(empty)
            i, _, _ = acquisition.best_predicted(fit.fit(empty.observations), candidates,
                                                 self.context.target,
                                                 caution=self.options.caution,
                                                 sd=self.options.caution > 0)
            self._prior_pick = candidates[i]
        return self._prior_pick

    def recommendation_set(self, history: History) -> np.ndarray:
        """Every mixture the recommendation may be: the pool's target mixtures, or (continuous)
        the mixtures run plus a Sobol set."""
        if self.context.pool is not None:
            return self.pool.mixtures_at(self.context.target)
        seed = self.context.seed_for("rec", history.observations.n)
        return recommendation_mixtures(self.context.space, history, seed)

    def _recommend_index(self, history: History, sd: bool = False
                         ) -> tuple[np.ndarray, int, float, float | None]:
        surrogate = self.model(history)
        observed = self.observed_at_target(history)
        candidates = observed if len(observed) else self.recommendation_set(history)
        i, mean, spread = acquisition.best_predicted(surrogate, candidates, self.context.target,
                                                     caution=self.options.caution, sd=sd)
        if (self.context.prior is not None and self._prior_pick is None
                and history.n_trials == 0 and history.n_pending == 0):
            self._prior_pick = candidates[i]  # what prior_pick would fit the prior alone for
        return candidates, i, mean, spread

    def best_mixture(self, history: History) -> np.ndarray:
        candidates, i, _, _ = self._recommend_index(history)
        return candidates[i]

    def recommend(self, history: History, *, interval: bool = True) -> Recommendation:
        """The best predicted mixture; its intervals carry the hyperparameters' uncertainty,
        as :meth:`predict`'s: picked for its high mean, it is where the fit alone is
        overconfident (bench/results/live_synthetic_reach.md: new runs inside the fit's
        interval 0.26-0.83 of the time on 6 synthetic problems, with the draws 0.48-0.92)."""
        candidates, i, mean, sd = self._recommend_index(history, sd=interval)
        if sd is None:
            return self.recommendation(candidates[i], mean, sd, history)
        target = self.context.target
        reach = interval_reach(history.observations, candidates[i], target)
        if reach.calibrated:  # else withheld: no draws to make
            _, var = self.model(history).predict_widened(candidates[i][None, :], target)
            sd = float(np.sqrt(var[0]))
        return self._with_intervals(history, candidates[i], mean, sd, reach)

    def predict(self, history: History, weights: np.ndarray) -> Recommendation | None:
        """The model at any mixture, its intervals also carrying the hyperparameters'
        uncertainty: a mixture the study did not choose is where the fit alone is
        overconfident (bench/results/calibration.md, held-out mixtures)."""
        surrogate = self.model(history)
        at = np.asarray(weights, dtype=float)[None, :]
        target = self.context.target
        reach = interval_reach(history.observations, at[0], target)
        if reach.calibrated:
            mean, var = surrogate.predict_widened(at, target)
        else:  # the intervals are withheld: no draws to make
            mean, var = surrogate.predict(at, target)
        return self._with_intervals(history, weights, float(mean[0]),
                                    float(np.sqrt(var[0])), reach, basis="prediction")

    def _with_intervals(self, history: History, weights: np.ndarray, mean: float, sd: float,
                        reach: IntervalReach, basis: str = "model") -> Recommendation:
        """Both 90% intervals at ``weights`` (target rung), widened by the model's LOO scale;
        withheld while ``reach`` (of ``weights``) says they cannot be checked.

        At a mixture run at the target they also span its prediction from every other mixture
        (:meth:`MixtureSurrogate.without_own_runs`, same scale): the recommendation is the run
        mixture with the best posterior mean, which its own lucky runs raise (the winner's
        curse). bench/results/live_synthetic_hull.md: new runs inside the recommendation's
        interval 0.54-0.94 on 6 synthetic truths with it, 0.48-0.92 without, 1.01-1.13 times
        as wide (median)."""
        surrogate = self.model(history)
        target = self.context.target
        if not reach.calibrated:
            return replace(self.recommendation(weights, mean, None, history, basis),
                           reach=reach, interval_note=reach.note())
        scale = surrogate.interval_scale(target)
        at = np.asarray(weights, dtype=float)[None, :]
        noise = float(surrogate.noise_variance(at, target)[0])
        held_back = surrogate.without_own_runs(at[0], target)
        also = None if held_back is None else (
            held_back[0], scale * float(np.sqrt(held_back[1])),
            scale * float(np.sqrt(held_back[1] + noise)))
        shown = self.recommendation(weights, mean, scale * sd, history, basis,
                                    run_sd=scale * float(np.sqrt(sd ** 2 + noise)), scale=scale,
                                    also=also)
        return replace(shown, reach=reach, interval_note=reach.note())

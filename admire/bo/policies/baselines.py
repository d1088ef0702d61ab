"""What a user would run instead of admire, as policies on the same Study and loop.

* ``random``: random target-rung runs; recommends the best one seen.
* ``sfbo``: single-fidelity BO: a GP with LogEI on target-rung runs only.
* ``regmix``: RegMix: every run at the cheapest rung, a LightGBM regression over mixtures, and
  the target mixture with the best prediction.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from botorch.acquisition.analytic import LogExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood

from admire.bo.candidates import recommendation_mixtures
from admire.bo.fitting import REFRESH_GROWTH as REFIT_GROWTH
from admire.bo.history import History, Observations
from admire.bo.policies.base import Candidate, Policy, Recommendation, propose_sequentially
from admire.bo.policies.options import NoOptions
from admire.bo.seeding import torch_seeded

DTYPE = torch.float64


class RandomAtRung(Policy):
    """Random open candidates at one rung (pool rows, or random mixtures)."""

    options_model = NoOptions

    def rung(self) -> int:
        return self.context.target

    def propose(self, history: History, n: int) -> list[Candidate]:
        return propose_sequentially(history, n, self.random_pick)

    def random_pick(self, history: History) -> Candidate | None:
        rung = self.rung()
        rng = np.random.default_rng(self.context.seed_for(self.name, history.n_trials))
        if self.context.pool is None:
            return Candidate(self.context.space.dirichlet(1, rng)[0], rung)
        if history.n_trials == 0:
            return self.candidate_at(self.first_row(self.pool.rows_at(rung)))
        rows = self.open_rows_at(history, rung)
        return self.candidate_at(int(rng.choice(rows))) if len(rows) else None

    def candidate_mixtures(self, history: History) -> np.ndarray:
        """Mixtures a model-based recommendation chooses among."""
        if self.context.pool is not None:
            return self.pool.mixtures_at(self.context.target)
        return recommendation_mixtures(self.context.space, history,
                                       self.context.seed_for("rec", history.observations.n))

    def best_seen(self, history: History) -> Recommendation:
        """The best observed run at the target rung (at any rung if none is there yet)."""
        obs = history.observations
        at = obs.at(self.context.target) if (obs.rung == self.context.target).any() else obs
        i = int(np.argmax(at.y))
        return self.recommendation(at.weights[i], float(at.y[i]), None, history, "observed")


class RandomTarget(RandomAtRung):
    """Random target-rung runs; recommends the best target value seen so far."""

    name = "random"

    def recommend(self, history: History, *, interval: bool = True) -> Recommendation:
        return self.best_seen(history)


def fit_target_gp(weights: np.ndarray, y: np.ndarray, seed: int) -> SingleTaskGP:
    """A GP on the target rung; seeded so a fit does not depend on process history (BoTorch may
    restart a failed fit from random points)."""
    k = weights.shape[1]
    with torch_seeded(seed):
        bounds = torch.stack([torch.zeros(k, dtype=DTYPE), torch.ones(k, dtype=DTYPE)])
        model = SingleTaskGP(torch.as_tensor(weights, dtype=DTYPE),
                             torch.as_tensor(y, dtype=DTYPE).unsqueeze(-1),
                             input_transform=Normalize(k, bounds=bounds),
                             outcome_transform=Standardize(1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model.eval()


class SingleFidelityBO(RandomAtRung):
    """GP + LogEI on target-rung runs only; recommends the best posterior mean."""

    name = "sfbo"
    min_points = 2

    def _model(self, history: History) -> SingleTaskGP:
        at = history.observations.at(self.context.target)
        key = (at.n, at.y.tobytes())
        if getattr(self, "_fitted_on", None) != key:
            self._gp = fit_target_gp(at.weights, at.y, seed=self.context.seed * 1000 + at.n)
            self._fitted_on = key
        return self._gp

    def propose(self, history: History, n: int) -> list[Candidate]:
        return propose_sequentially(history, n, self.next)

    def next(self, history: History) -> Candidate | None:
        at = history.observations.at(self.context.target)
        if at.n < self.min_points or history.n_trials < self.min_points:
            return self.random_pick(history)
        if self.context.pool is not None:
            rows = self.open_rows_at(history, self.context.target)
            if not len(rows):
                return None
            weights = self.pool.weights[rows]
        else:
            rows, weights = None, self.candidate_mixtures(history)
        acqf = LogExpectedImprovement(self._model(history), best_f=float(at.y.max()))
        with torch.no_grad():
            scores = acqf(torch.as_tensor(weights, dtype=DTYPE).unsqueeze(1)).numpy()
        best = int(np.argmax(scores))
        if rows is not None:
            return self.candidate_at(int(rows[best]), float(scores[best]))
        return Candidate(weights[best], self.context.target, None, float(scores[best]))

    def recommend(self, history: History, *, interval: bool = True) -> Recommendation:
        if history.observations.at(self.context.target).n < self.min_points:
            return self.best_seen(history)
        mixtures = self.candidate_mixtures(history)
        model = self._model(history)  # fitted outside no_grad: the fit needs gradients
        with torch.no_grad():
            post = model.posterior(torch.as_tensor(mixtures, dtype=DTYPE))
            mean = post.mean.squeeze(-1).numpy()
            sd = post.variance.squeeze(-1).clamp_min(0).sqrt().numpy()
        i = int(np.argmax(mean))
        return self.recommendation(mixtures[i], float(mean[i]), float(sd[i]), history)


class RegMix(RandomAtRung):
    """RegMix: cheapest-rung runs only, then a LightGBM regression over mixtures.

    The regression is refitted when the runs grew by :data:`REFIT_GROWTH` (as admire's GP is
    refreshed), not after each of a thousand cheap runs."""

    name = "regmix"
    min_points = 8

    def _regression(self, obs: Observations) -> Any:
        fitted = getattr(self, "_fitted", None)
        if fitted is not None and fitted[0] <= obs.n < fitted[0] + max(
                1, math.ceil(REFIT_GROWTH * fitted[0])):
            return fitted[1]
        import lightgbm

        model = lightgbm.LGBMRegressor(n_estimators=200, learning_rate=0.05, num_leaves=8,
                                       min_child_samples=3, subsample=0.8, subsample_freq=1,
                                       random_state=self.context.seed, verbose=-1, n_jobs=1)
        model.fit(obs.weights, obs.y)
        self._fitted = (obs.n, model)
        return model

    def rung(self) -> int:
        return 0

    def recommend(self, history: History, *, interval: bool = True) -> Recommendation:
        obs = history.observations.at(0)
        mixtures = self.candidate_mixtures(history)
        if obs.n < self.min_points:
            # Too few runs to regress: the candidate closest to the best cheap run.
            best = obs.weights[int(np.argmax(obs.y))]
            i = int(np.argmin(np.abs(mixtures - best[None, :]).sum(axis=1)))
            return self.recommendation(mixtures[i], float(obs.y.max()), None, history,
                                       "observed")
        predicted = self._regression(obs).predict(mixtures)
        i = int(np.argmax(predicted))
        return self.recommendation(mixtures[i], float(predicted[i]), None, history)

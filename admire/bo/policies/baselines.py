"""Methods compared in replay, all run by the same harness (:mod:`admire.replay`).

* ``mfbo``: admire itself: a pool-mode :class:`~admire.study.Study` on Ax.
* ``sfbo``: single-fidelity BO: a GP with LogEI on target-rung rows only.
* ``random``: random target-rung rows; recommends the best seen.
* ``regmix``: RegMix-style: spends the budget on cheapest-rung runs, fits a LightGBM regressor,
  recommends the target mixture with the best prediction.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from botorch.acquisition.analytic import LogExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood

from admire.replay import ReplayMethod, ReplayProblem
from admire.schema.config import StrategyConfig

DTYPE = torch.float64


class MFBO(ReplayMethod):
    """admire's Study in pool mode; the harness's initial pick is attached to the experiment."""

    name = "mfbo"

    def __init__(self, problem: ReplayProblem, seed: int,
                 strategy: StrategyConfig | None = None, budget: float | None = None) -> None:
        super().__init__(problem, seed)
        recorded = problem.recorded
        self.study = recorded.study(name=f"replay-{seed}", seed=seed, strategy=strategy,
                                    budget=budget)
        self._trial_of_row: dict[int, int] = {}
        self._row_of_id = {rid: i for i, rid in enumerate(recorded.pool.ids)}

    def next_pick(self) -> int | None:
        from admire.study.ax_bridge import PoolExhausted

        try:
            proposal = self.study.propose(1)[0]
        except PoolExhausted:
            return None
        row = self._row_of_id[proposal.candidate_id]
        self._trial_of_row[row] = proposal.trial_index
        return row

    def observe(self, row: int) -> None:
        super().observe(row)
        trial = self._trial_of_row.pop(row, None)
        if trial is None:  # an initial pick made by the harness
            pool = self.problem.recorded.pool
            trial = self.study.attach(pool.weights[row], self.problem.recorded.ladder.rungs[
                int(pool.rung[row])].name)
        metrics, cost = self.problem.recorded.evaluate(row)
        objective = self.problem.recorded.objective[2:]
        self.study.complete(trial, {objective: metrics[objective]}, cost)

    def recommend(self) -> int:
        rec = self.study.recommend()
        weights = np.array([rec.mixture[d] for d in self.problem.recorded.domains])
        return self.problem.target_index(weights)


class RandomTarget(ReplayMethod):
    """Random target-rung rows; recommends the best target value seen so far."""

    name = "random"

    def __init__(self, problem: ReplayProblem, seed: int) -> None:
        super().__init__(problem, seed)
        self.rng = np.random.default_rng([seed, 1])
        self.target = problem.recorded.target_rung

    def initial_picks(self, rng: np.random.Generator) -> list[int]:
        return [int(rng.choice(self.problem.rows_at(self.target)))]

    def next_pick(self) -> int | None:
        rows = self.open_rows(self.target)
        return int(self.rng.choice(rows)) if len(rows) else None

    def recommend(self) -> int:
        seen = [r for r in self.picked if self.problem.row_target[r] >= 0
                and self.problem.recorded.pool.rung[r] == self.target]
        best = max(seen, key=lambda r: self.problem.row_value[r])
        return int(self.problem.row_target[best])


def _fit_gp(X: np.ndarray, y: np.ndarray, seed: int) -> SingleTaskGP:
    """A GP on the target rung; the fit is seeded so replay does not depend on process
    history (BoTorch may restart a failed fit from random points)."""
    torch.manual_seed(seed)
    k = X.shape[1]
    model = SingleTaskGP(torch.as_tensor(X, dtype=DTYPE),
                         torch.as_tensor(y, dtype=DTYPE).unsqueeze(-1),
                         input_transform=Normalize(k, bounds=torch.stack(
                             [torch.zeros(k, dtype=DTYPE), torch.ones(k, dtype=DTYPE)])),
                         outcome_transform=Standardize(1))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model.eval()


class SingleFidelityBO(RandomTarget):
    """GP + LogEI on target-rung rows only; recommends the best posterior mean."""

    name = "sfbo"
    min_points = 2

    def _model(self) -> SingleTaskGP:
        """The GP on the picks so far (fitted once per new pick)."""
        if getattr(self, "_fitted_on", -1) != len(self.picked):
            rows = np.asarray(self.picked, dtype=int)
            self._gp = _fit_gp(self.problem.recorded.pool.weights[rows],
                               self.problem.row_value[rows], seed=self.seed * 1000 + len(rows))
            self._fitted_on = len(self.picked)
        return self._gp

    def next_pick(self) -> int | None:
        rows = self.open_rows(self.target)
        if not len(rows):
            return None
        if len(self.picked) < self.min_points:
            return int(self.rng.choice(rows))
        model = self._model()
        acqf = LogExpectedImprovement(model, best_f=float(self.problem.row_value[
            self.picked].max()))
        X = torch.as_tensor(self.problem.recorded.pool.weights[rows], dtype=DTYPE).unsqueeze(1)
        with torch.no_grad():
            return int(rows[int(torch.argmax(acqf(X)))])

    def recommend(self) -> int:
        if len(self.picked) < self.min_points:
            return super().recommend()
        model = self._model()
        with torch.no_grad():
            mean = model.posterior(torch.as_tensor(self.problem.target_weights,
                                                   dtype=DTYPE)).mean.squeeze(-1)
        return int(torch.argmax(mean))


class RegMix(ReplayMethod):
    """RegMix-style: cheapest-rung runs only, then a LightGBM regression over mixtures."""

    name = "regmix"
    min_points = 8

    def __init__(self, problem: ReplayProblem, seed: int) -> None:
        super().__init__(problem, seed)
        self.rng = np.random.default_rng([seed, 2])

    def next_pick(self) -> int | None:
        rows = self.open_rows(0)
        return int(self.rng.choice(rows)) if len(rows) else None

    def recommend(self) -> int:
        rows = np.asarray(self.picked, dtype=int)
        X, y = self.problem.recorded.pool.weights[rows], self.problem.row_value[rows]
        if len(rows) < self.min_points:
            # Too few runs to regress: the target mixture closest to the best cheap run.
            return self.problem.target_index(X[int(np.argmax(y))])
        import lightgbm

        model = lightgbm.LGBMRegressor(n_estimators=200, learning_rate=0.05, num_leaves=8,
                                       min_child_samples=3, subsample=0.8, subsample_freq=1,
                                       random_state=self.seed, verbose=-1, n_jobs=1)
        model.fit(X, y)
        return int(np.argmax(model.predict(self.problem.target_weights)))


METHODS: dict[str, Callable[[ReplayProblem, int], ReplayMethod]] = {
    "mfbo": MFBO, "sfbo": SingleFidelityBO, "random": RandomTarget, "regmix": RegMix}


def split_methods(text: str) -> list[str]:
    """``mfbo,mfbo:kernel=linear,caution=1,sfbo`` -> three methods: a ``key=value`` part with
    no ``:`` continues the options of the method before it."""
    methods: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if methods and "=" in part and ":" not in part:
            methods[-1] += "," + part
        else:
            methods.append(part)
    return methods


def parse_method(spec: str) -> tuple[str, dict[str, object]]:
    """``mfbo:caution=1.6,acquisition=mes`` -> ("mfbo", {...}): strategy variants of mfbo
    are compared in replay by name."""
    from admire.errors import ValidationError

    name, _, options = spec.partition(":")
    if name not in METHODS:
        raise ValidationError(f"unknown method {name!r}; choose from {sorted(METHODS)}",
                              where="--methods")
    if options and name != "mfbo":
        raise ValidationError(f"only mfbo takes options, got {spec!r}", where="--methods")
    fields = StrategyConfig.__dataclass_fields__
    parsed: dict[str, object] = {}
    for item in filter(None, options.split(",")):
        key, _, value = item.partition("=")
        if key not in fields or key == "seed":
            raise ValidationError(f"unknown mfbo option {key!r}; options: "
                                  f"{sorted(set(fields) - {'seed'})}", where="--methods")
        default = getattr(StrategyConfig(), key)
        kind = float if default is None else type(default)
        try:
            parsed[key] = kind(value)
        except ValueError:
            raise ValidationError(f"option {key!r} needs a {kind.__name__}, got {value!r}",
                                  where="--methods") from None
    return name, parsed


def make_method(spec: str, problem: ReplayProblem, seed: int,
                budget: float | None = None) -> ReplayMethod:
    """A method by spec; ``budget`` (target-run units) is the study's budget for mfbo."""
    name, options = parse_method(spec)
    if name == "mfbo":
        method = MFBO(problem, seed, StrategyConfig(**{"initial_trials": 1, **options,
                                                       "seed": seed}), budget=budget)
    else:
        method = METHODS[name](problem, seed)
    method.name = spec
    return method

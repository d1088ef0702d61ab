"""The Ax GenerationStrategy: a space-filling start at the cheapest rung, then multi-fidelity BO.

Both nodes are Ax ``ExternalGenerationNode``s: Ax owns the experiment, trials, pending points and
node transitions; the nodes read the experiment's data and hand back parameterizations. The
BoTorch work (fit, acquisition) lives in :class:`Planner`, shared with the Study so that its
recommendation uses the very model that made the last proposal.

Every random choice is seeded by (study seed, number of trials so far), so a study rebuilt from
storage makes the same next proposal as the process that saved it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ax.core.data import Data
from ax.core.experiment import Experiment
from ax.core.trial_status import TrialStatus
from ax.generation_strategy.external_generation_node import ExternalGenerationNode
from ax.generation_strategy.generation_strategy import GenerationStrategy
from ax.generation_strategy.transition_criterion import MinTrials

from admire.bo import acquisition
from admire.bo.surrogate import MixtureSurrogate, TrainingData
from admire.schema.config import StrategyConfig
from admire.schema.ladder import FidelityLadder
from admire.space import FIDELITY_PARAM, MixtureSpace

START_NODE = "dirichlet_start"
BO_NODE = "mfbo"
CONTINUOUS_CANDIDATES = 256  # Sobol mixtures scored per step in continuous mode
LOCAL_CANDIDATES = 64  # mixtures drawn close to the current recommendation
RECOMMENDATION_CANDIDATES = 1024  # Sobol mixtures the continuous recommendation considers
LOCAL_CONCENTRATION = 200.0  # Dirichlet concentration around the recommendation
OBSERVED_CANDIDATES = 64  # best-predicted mixtures already run, kept as candidates


@dataclass(frozen=True)
class CandidatePool:
    """A discrete set of (mixture, rung) candidates: a replay table's rows or a shortlist."""

    weights: np.ndarray  # (N, K)
    rung: np.ndarray  # (N,) rung index
    ids: tuple[str, ...]

    def __post_init__(self) -> None:
        if not (len(self.weights) == len(self.rung) == len(self.ids)):
            raise ValueError("pool weights, rungs and ids must have the same length")

    def __len__(self) -> int:
        return len(self.ids)


COST_METRIC = "cost"  # the Ax tracking metric holding each trial's cost


def metric_by_trial(experiment: Experiment, metric: str) -> dict[int, float]:
    """Trial index -> recorded value of ``metric`` in the experiment's data."""
    df = experiment.lookup_data().df
    rows = df[df["metric_name"] == metric]
    return dict(zip(rows["trial_index"], rows["mean"], strict=True))


def _seed(base: int, *parts: object) -> int:
    digest = hashlib.sha256(repr((base, *parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _row_key(weights: np.ndarray, rung: int) -> tuple:
    return (*np.round(np.asarray(weights, dtype=float), 9).tolist(), int(rung))


class Planner:
    """Everything BoTorch: training data from the experiment, the fit, scoring, recommendation."""

    def __init__(self, space: MixtureSpace, ladder: FidelityLadder, metric: str,
                 minimize: bool, strategy: StrategyConfig, pool: CandidatePool | None,
                 budget: float | None = None) -> None:
        self.space, self.ladder, self.metric = space, ladder, metric
        self.minimize, self.strategy, self.pool = minimize, strategy, pool
        self.budget = budget
        self.surrogate = MixtureSurrogate(strategy.surrogate, kernel=strategy.kernel,
                                          weight_bounds=self._input_bounds())
        self.experiment: Experiment | None = None
        self.data: TrainingData | None = None
        self._fit_key: str | None = None
        self._restored_key: str | None = None
        self.acquisition_values: dict[tuple, float] = {}  # proposal key -> value per unit cost
        if pool is not None:
            _, self._mixture_ids = np.unique(np.round(pool.weights, 6), axis=0,
                                             return_inverse=True)
            self._mixture_ids = self._mixture_ids.reshape(-1)
            self._target_mixture_ids = np.unique(
                self._mixture_ids[pool.rung == len(ladder.rungs) - 1])
        self._pool_index = ({_row_key(w, r): i for i, (w, r) in
                             enumerate(zip(pool.weights, pool.rung, strict=True))}
                            if pool is not None else {})

    def _input_bounds(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Range each weight is scaled by with ``input_scale = "range"``: the candidates' range
        in pool mode, the search-space bounds otherwise. None keeps the weights as they are."""
        if self.strategy.input_scale == "weights":
            return None
        if self.pool is None:
            return self.space.lower_array, self.space.upper_array
        lo, hi = self.pool.weights.min(axis=0), self.pool.weights.max(axis=0)
        return lo, np.maximum(hi, lo + 1e-6)

    # --- data ----------------------------------------------------------------------------------

    def rung_index(self, fidelity: float) -> int:
        return self.ladder.rungs.index(self.ladder.by_fidelity(fidelity))

    def training_data(self, experiment: Experiment) -> TrainingData:
        """Completed trials with an objective value, oriented for maximisation."""
        values = metric_by_trial(experiment, self.metric)
        rows, rungs, ys = [], [], []
        for index, trial in sorted(experiment.trials.items()):
            if trial.status != TrialStatus.COMPLETED or index not in values:
                continue
            params = trial.arm.parameters
            rows.append(self.space.weights_from_params(params))
            rungs.append(self.rung_index(float(params[FIDELITY_PARAM])))
            ys.append(-values[index] if self.minimize else values[index])
        k = self.space.k
        return TrainingData(np.array(rows).reshape(-1, k), np.array(rungs, dtype=int),
                            np.array(ys, dtype=float),
                            tuple(r.fidelity for r in self.ladder.rungs))

    def rung_costs(self, experiment: Experiment,
                   costs: dict[int, float] | None = None) -> np.ndarray:
        """Mean observed cost per rung where runs exist; the ladder's estimate elsewhere.

        ``costs`` (trial -> cost) may be passed when the caller has already read them.
        """
        if costs is None:
            costs = metric_by_trial(experiment, COST_METRIC)
        sums = np.zeros(len(self.ladder.rungs))
        counts = np.zeros(len(self.ladder.rungs))
        for index, cost in costs.items():
            fid = float(experiment.trials[index].arm.parameters[FIDELITY_PARAM])
            r = self.rung_index(fid)
            sums[r] += cost
            counts[r] += 1
        estimate = np.array([r.cost_estimate for r in self.ladder.rungs])
        observed = np.divide(sums, counts, out=estimate.copy(), where=counts > 0)
        if counts.any() and not counts.all():
            # Rescale the estimates of unseen rungs by how far off the seen ones were.
            ratio = float(np.median(observed[counts > 0] / estimate[counts > 0]))
            observed[counts == 0] = estimate[counts == 0] * ratio
        return np.maximum(observed, 1e-12)

    def proxy_spent(self, experiment: Experiment, pending: Sequence[dict]) -> float:
        """Target-run units spent or committed below the target rung (running and pending
        trials count at their rung's cost)."""
        observed = metric_by_trial(experiment, COST_METRIC)
        costs = self.rung_costs(experiment, observed)
        target = len(self.ladder.rungs) - 1
        total = 0.0
        for index, trial in experiment.trials.items():
            if trial.arm is None or trial.status.is_abandoned:
                continue
            r = self.rung_index(float(trial.arm.parameters[FIDELITY_PARAM]))
            if r < target:
                total += observed.get(index, costs[r] if not trial.status.is_terminal else 0.0)
        total += sum(costs[r] for r in (self.rung_index(float(p[FIDELITY_PARAM]))
                                        for p in pending) if r < target)
        return total / costs[target]

    def target_only(self, experiment: Experiment, pending: Sequence[dict]) -> bool:
        """Whether the proxy share of the budget is used up."""
        share = self.strategy.proxy_share
        if share is None or self.budget is None:
            return False
        return self.proxy_spent(experiment, pending) >= share * self.budget

    def update(self, experiment: Experiment) -> None:
        """Refit when the data changed since the last fit (cache what does not change)."""
        self.experiment = experiment
        data = self.training_data(experiment)
        # float32 so that a JSON round trip of the experiment (last-bit changes) keeps the key.
        key = hashlib.sha256(data.weights.astype(np.float32).tobytes() + data.rung.tobytes()
                             + data.y.astype(np.float32).tobytes()).hexdigest()
        if key != self._fit_key and data.n > 0:
            # A state restored from storage was fitted on exactly this data: reuse it as is.
            # BoTorch may restart a failed fit from random points drawn with torch's global
            # generator: seed it from the data so the fit does not depend on process history.
            with torch.random.fork_rng():
                torch.manual_seed(_seed(self.strategy.seed, "fit", data.n))
                self.surrogate.fit(data, optimize=key != self._restored_key)
            self._fit_key, self._restored_key = key, None
        self.data = data

    def fit_state(self) -> tuple[str | None, dict | None]:
        return self._fit_key, self.surrogate.state()

    def restore_fit(self, key: str | None, state: dict) -> None:
        self.surrogate.restore(state)
        self._fit_key, self._restored_key = None, key

    # --- candidates ----------------------------------------------------------------------------

    def used_keys(self, experiment: Experiment, pending: Sequence[dict]) -> set[tuple]:
        keys = {_row_key(self.space.weights_from_params(t.arm.parameters),
                         self.rung_index(float(t.arm.parameters[FIDELITY_PARAM])))
                for t in experiment.trials.values() if t.arm is not None}
        keys |= {_row_key(self.space.weights_from_params(p),
                          self.rung_index(float(p[FIDELITY_PARAM]))) for p in pending}
        return keys

    def open_pool(self, experiment: Experiment, pending: Sequence[dict]) -> np.ndarray:
        """Indices of pool rows not yet run, running, or pending."""
        assert self.pool is not None
        used = self.used_keys(experiment, pending)
        return np.array([i for i, (w, r) in enumerate(zip(self.pool.weights, self.pool.rung,
                                                          strict=True))
                         if _row_key(w, r) not in used], dtype=int)

    def recommendation_set(self) -> np.ndarray:
        """Mixtures the recommendation is chosen from."""
        target = len(self.ladder.rungs) - 1
        if self.pool is not None:
            at_target = self.pool.weights[self.pool.rung == target]
            chosen = at_target if len(at_target) else self.pool.weights
            return np.unique(chosen, axis=0)
        seen = self.data.weights if self.data is not None else np.zeros((0, self.space.k))
        n = self.data.n if self.data is not None else 0
        sobol = self.space.sobol(RECOMMENDATION_CANDIDATES,
                                 seed=_seed(self.strategy.seed, "rec", n))
        return np.unique(np.concatenate([seen, sobol]), axis=0)

    def continuous_mixtures(self, n: int) -> np.ndarray:
        """Mixtures scored in continuous mode: a fresh Sobol set for coverage, points near the
        current best prediction for refinement, and the mixtures already run."""
        assert self.data is not None
        rng = np.random.default_rng(_seed(self.strategy.seed, "local", n))
        sobol = self.space.sobol(CONTINUOUS_CANDIDATES, seed=_seed(self.strategy.seed, "cand", n))
        centre = self.recommend().weights
        local = self.space.project(rng.dirichlet(LOCAL_CONCENTRATION * centre + 0.05,
                                                 size=LOCAL_CANDIDATES))
        # Mixtures already run stay candidates (at other rungs), but only the most promising:
        # all of them would make a step grow with the number of observations.
        seen = np.unique(self.data.weights, axis=0)
        if len(seen) > OBSERVED_CANDIDATES:
            mean, _ = self.surrogate.predict(seen, len(self.ladder.rungs) - 1)
            seen = seen[np.argsort(-mean)[:OBSERVED_CANDIDATES]]
        return np.unique(np.concatenate([seen, sobol, local]), axis=0)

    def kg_targets(self, candidates: np.ndarray | None) -> np.ndarray:
        """Target-rung mixtures whose best posterior mean the knowledge gradient values."""
        if self.pool is not None or candidates is None:
            return self.recommendation_set()
        return candidates

    def pool_row(self, weights: np.ndarray, rung: int) -> int | None:
        return self._pool_index.get(_row_key(weights, rung))

    def pool_param(self, i: int) -> dict[str, float]:
        assert self.pool is not None
        return self.space.params_from_weights(self.pool.weights[i],
                                              self.ladder.rungs[int(self.pool.rung[i])].fidelity)

    def start_candidate(self, experiment: Experiment, pending: Sequence[dict]) -> dict:
        """A space-filling point at the cheapest rung (in pool mode a random open cheap row,
        of a mixture that has a target row where there is one)."""
        n = len(experiment.trials) + len(pending)
        rng = np.random.default_rng(_seed(self.strategy.seed, "start", n))
        if self.pool is not None:
            open_rows = self.open_pool(experiment, pending)
            cheap = open_rows[self.pool.rung[open_rows] == 0]
            # Prefer mixtures that also have a target row: only those can be recommended.
            confirmable = cheap[np.isin(self._mixture_ids[cheap], self._target_mixture_ids)]
            choices = confirmable if len(confirmable) else cheap if len(cheap) else open_rows
            if not len(choices):
                raise PoolExhausted("every candidate of the pool has been used")
            return self.pool_param(int(rng.choice(choices)))
        point = self.space.sobol(n + 1, seed=self.strategy.seed)[n]
        return self.space.params_from_weights(point, self.ladder.cheapest.fidelity)

    def next_candidate(self, experiment: Experiment, pending: Sequence[dict]) -> dict:
        """The next (mixture, rung): under screen-confirm a space-filling cheap screen until the
        proxy share is spent, then the best target-rung posterior mean not yet run; under kg
        the open candidate with the highest acquisition value per unit cost."""
        if self.data is None or self.data.n == 0:
            return self.start_candidate(experiment, pending)
        n = len(experiment.trials) + len(pending)
        confirming = self.target_only(experiment, pending)
        screen_confirm = (self.strategy.policy == "screen-confirm"
                          and self.strategy.proxy_share is not None and self.budget is not None)
        if screen_confirm and not confirming:
            return self.start_candidate(experiment, pending)
        if self.pool is not None:
            open_rows = self.open_pool(experiment, pending)
            if not len(open_rows):
                raise PoolExhausted("every candidate of the pool has been used")
            if confirming:
                at_target = open_rows[self.pool.rung[open_rows] == len(self.ladder.rungs) - 1]
                open_rows = at_target if len(at_target) else open_rows
            weights, rungs = self.pool.weights[open_rows], self.pool.rung[open_rows]
        else:
            mixtures = self.continuous_mixtures(n)
            n_rungs = len(self.ladder.rungs)
            weights = np.repeat(mixtures, n_rungs, axis=0)
            rungs = np.tile(np.arange(n_rungs), len(mixtures))
            used = self.used_keys(experiment, pending)
            fresh = np.array([_row_key(w, r) not in used for w, r in zip(weights, rungs,
                                                                         strict=True)])
            if confirming:
                fresh &= rungs == n_rungs - 1
            weights, rungs = weights[fresh], rungs[fresh]
        surrogate = self.surrogate
        if pending:
            surrogate = surrogate.with_pending(
                np.array([self.space.weights_from_params(p) for p in pending]),
                np.array([self.rung_index(float(p[FIDELITY_PARAM])) for p in pending]))
        target = len(self.ladder.rungs) - 1
        if confirming and screen_confirm and (rungs == target).all():
            scores, _ = surrogate.predict(weights, target)
        else:
            targets = self.kg_targets(None if self.pool is not None else mixtures)
            scores = self.score(surrogate, weights, rungs, targets,
                                seed=_seed(self.strategy.seed, "acq", n))
        best = int(np.argmax(scores))
        self.acquisition_values[_row_key(weights[best], int(rungs[best]))] = float(scores[best])
        if self.pool is not None:
            return self.pool_param(int(open_rows[best]))
        return self.space.params_from_weights(weights[best],
                                              self.ladder.rungs[int(rungs[best])].fidelity)

    def score(self, surrogate: MixtureSurrogate, weights: np.ndarray, rungs: np.ndarray,
              rec_set: np.ndarray, seed: int) -> np.ndarray:
        """Acquisition value per unit cost of each candidate (mixture, rung)."""
        assert self.experiment is not None
        target = len(self.ladder.rungs) - 1
        costs = self.rung_costs(self.experiment)
        costs = costs / costs[target] + self.strategy.cost_intercept
        if self.strategy.acquisition == "mes":
            return acquisition.max_value_entropy(surrogate, weights, rungs, rec_set, target,
                                                 costs, seed)
        observed = self.observed_at_target()
        if self.strategy.kg_targets == "recommendable" and len(observed):
            kg = acquisition.knowledge_gradient(surrogate, weights, rungs, observed, target,
                                                candidates_recommendable=True)
        else:
            kg = acquisition.knowledge_gradient(surrogate, weights, rungs, rec_set, target)
        return kg / costs[rungs]

    def observed_at_target(self) -> np.ndarray:
        """Mixtures run at the target rung, which ``recommend_from = "observed"`` picks from
        (none when the rule is "all")."""
        target = len(self.ladder.rungs) - 1
        if self.strategy.recommend_from != "observed" or self.data is None:
            return np.zeros((0, self.space.k))
        return np.unique(self.data.weights[self.data.rung == target], axis=0)

    def recommend(self) -> acquisition.Recommendation:
        """Best predicted target-rung mixture; among those run at the target once there are
        any (``recommend_from = "observed"``), which keeps the recommendation on mixtures the
        data supports instead of an extrapolated corner."""
        target = len(self.ladder.rungs) - 1
        observed = self.observed_at_target()
        candidates = observed if len(observed) else self.recommendation_set()
        return acquisition.recommend(self.surrogate, candidates, target,
                                     minimize=self.minimize, caution=self.strategy.caution)


class PoolExhausted(RuntimeError):
    """Every candidate of a discrete pool has been proposed."""


class DirichletStartNode(ExternalGenerationNode):
    """Space-filling start at the cheapest rung."""

    def __init__(self, planner: Planner, initial_trials: int) -> None:
        super().__init__(name=START_NODE, transition_criteria=[
            MinTrials(threshold=initial_trials, transition_to=BO_NODE,
                      use_all_trials_in_exp=True)])
        self.fallback_specs = {}  # never let Ax swap in its own Sobol (off-ladder fidelities)
        self.planner = planner
        self._seen: Experiment | None = None

    def update_generator_state(self, experiment: Experiment, data: Data) -> None:
        self._seen = experiment

    def get_next_candidate(self, pending_parameters: list[dict]) -> dict:
        assert self._seen is not None
        return self.planner.start_candidate(self._seen, pending_parameters)


class MultiFidelityBONode(ExternalGenerationNode):
    """Multi-fidelity BO: refit on the experiment's data, maximise acquisition per unit cost."""

    def __init__(self, planner: Planner) -> None:
        super().__init__(name=BO_NODE)
        self.fallback_specs = {}  # errors surface; a silent Sobol fallback would break the ladder
        self.planner = planner

    def update_generator_state(self, experiment: Experiment, data: Data) -> None:
        self.planner.update(experiment)

    def get_next_candidate(self, pending_parameters: list[dict]) -> dict:
        assert self.planner.experiment is not None
        return self.planner.next_candidate(self.planner.experiment, pending_parameters)


def build_generation_strategy(planner: Planner, initial_trials: int) -> GenerationStrategy:
    nodes: list[ExternalGenerationNode] = []
    if initial_trials > 0:
        nodes.append(DirichletStartNode(planner, initial_trials))
    nodes.append(MultiFidelityBONode(planner))
    return GenerationStrategy(name="admire_mfbo", nodes=nodes)

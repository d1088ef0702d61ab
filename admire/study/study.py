"""The Study: admire's ask/tell service.

``propose`` asks the study's Policy for a batch given the history and records each proposal as
an Ax trial; ``complete``/``fail``/``abandon`` record outcomes in the Ax experiment and the runs
table; ``recommend`` asks the policy for the best mixture at the target rung. The Study owns the
Budget (one cost unit, fixed at creation) and counts spend the same way for every use;
:mod:`admire.study.storage` saves and loads everything needed to resume exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ax.core.experiment import Experiment
from ax.core.trial_status import TrialStatus

from admire.bo.candidates import CandidatePool
from admire.bo.history import History
from admire.bo.policies.base import PolicyContext, Recommendation
from admire.bo.policies.registry import build_policy
from admire.bo.prior import PriorRuns
from admire.errors import AdmireError, ConfigError, ValidationError
from admire.evaluators.base import Proposal
from admire.schema import runs
from admire.schema.config import StudyConfig, check_same_study
from admire.study.ax_bridge import (
    COST_METRIC,
    REFERENCE_KEY,
    AxRecord,
    new_experiment,
    trial_point,
)
from admire.study.budget import Budget
from admire.study.storage import read_study, write_study
from admire.study.trials import (
    ABANDONED,
    COMPLETED,
    FAILED,
    RUNNING,
    STATUS_OF,
    TrialIndex,
    clean_metrics,
)
from admire.study.warm_start import load_prior, read_prior, write_prior


class Study:
    """One mixture study: config, Budget, Policy, Ax experiment and runs table."""

    def __init__(self, config: StudyConfig, *, pool: CandidatePool | None = None,
                 experiment: Experiment | None = None, runs_table: pd.DataFrame | None = None,
                 budget: Budget | None = None, prior: PriorRuns | None = None) -> None:
        if config.mode == "pool" and pool is None:
            raise ValidationError("pool mode needs a candidate pool", where="study.mode")
        self.config = config
        self.space = config.space()
        self.ladder = config.ladder
        self.metric = config.objective.metric
        self.pool = pool
        # Earlier studies' runs (config.warm_start), mapped into this study's domains: the
        # model sees them, the budget and the trial count never do.
        self.prior = prior if prior is not None else load_prior(config)
        self.budget = budget or Budget(config.budget, config.ladder.target.cost_estimate,
                                       config.max_trials)
        self.policy = self._build_policy()
        self.ax = AxRecord(experiment or new_experiment(
            config.name, self.space, self.ladder, self.metric, config.objective.minimize),
            self.metric)
        self._table = (runs_table if runs_table is not None
                       else runs.empty_runs(self.space.domains, []))
        self.trials = self._index_trials()
        self._new_rows: list[dict[str, Any]] = []  # appended since the table was last built
        self._run_ids = set(self._table[runs.RUN_ID])
        self._metric_names = runs.metrics(self._table)
        self._fill_outcomes()
        self._spent_raw = float(self._table[runs.COST].sum()) if len(self._table) else 0.0
        self._started: dict[int, pd.Timestamp] = {}
        self._history: History | None = None

    @property
    def sign(self) -> float:
        """+1 to maximise, -1 to minimise: observations are kept oriented for maximisation."""
        return -1.0 if self.config.objective.minimize else 1.0

    def _index_trials(self) -> TrialIndex:
        """The trial index, read once from the experiment (empty for a new study).

        A completed trial's value and cost come from its runs-table row where it has one: Ax
        saves its data through pandas' JSON at 10 decimal places, so a resumed study would
        otherwise fit a model to rounded values and propose other mixtures than the study
        that saved it (and a value under 5e-11 would read as 0)."""
        index = TrialIndex(self.space.k)
        values, costs = self.ax.values(), self.ax.values(COST_METRIC)
        recorded = self._recorded_results()
        for i, trial in sorted(self.experiment.trials.items()):
            if trial.arm is None:
                continue
            weights, rung = trial_point(self.space, self.ladder, trial.arm.parameters)
            index.add(i, weights, rung, self.ax.candidate(i))
            status = STATUS_OF.get(trial.status, ABANDONED)
            if status == COMPLETED and i in values:
                value, cost = recorded.get(self.run_id(i), (values[i], costs.get(i, 0.0)))
                index.complete(i, self.sign * value, self.budget.units(cost))
            elif status != RUNNING:
                index.end(i, FAILED if status == COMPLETED else status)
        return index

    def _build_policy(self) -> Any:
        spec = self.config.policy
        context = PolicyContext(self.space, tuple(self.ladder.names),
                                tuple(r.fidelity for r in self.ladder.rungs), self.pool,
                                self.config.objective.minimize, self.config.seed,
                                prior=self.prior, outcomes=self.config.outcomes())
        policy = build_policy(spec, context)
        if self.prior is not None and not policy.uses_prior:
            raise ConfigError(f"policy {spec.name!r} does not use earlier studies' runs: drop "
                              "[[warm_start]] or choose a model policy (screen-confirm, kg, "
                              "reuse)", where="warm_start")
        if policy.needs_budget and self.budget.total is None:
            raise ConfigError(f"policy {spec.name!r} splits the study budget between rungs: "
                              "set study.budget (in target-rung runs), or choose policy 'kg'",
                              where="study.budget")
        return policy

    @property
    def experiment(self) -> Experiment:
        return self.ax.experiment

    # --- ask / tell ----------------------------------------------------------------------------

    def propose(self, n: int = 1) -> list[Proposal]:
        """Up to ``n`` new trials from the policy, aware of the trials still running; fewer
        (or none) when the candidates run out."""
        history = self.history()
        out = []
        for candidate in self.policy.propose(history, n):
            # As proposed: pool rows come from a validated table and designed points from the
            # space, so both are on the simplex already (re-projecting moves their last bits).
            weights = np.asarray(candidate.weights, dtype=float)
            rung = self.ladder.rungs[candidate.rung]
            index = self.ax.attach(self.space.params_from_weights(weights, rung.fidelity),
                                   candidate.candidate_id)
            self.trials.add(index, weights, candidate.rung, candidate.candidate_id)
            self._started[index] = pd.Timestamp.now(tz="UTC")
            out.append(Proposal(index, self.space.as_dict(weights), rung.name, rung.fidelity,
                                candidate.candidate_id, candidate.value))
        self._history = None
        return out

    def attach(self, mixture: Mapping[str, float] | np.ndarray, rung: str, *,
               reference: str | None = None) -> int:
        """Add a trial chosen outside the policy (an initial design, a user's own run, a
        named ``reference`` mixture); complete it with :meth:`complete` like any other."""
        weights = (self.space.from_dict(mixture) if isinstance(mixture, Mapping)
                   else np.asarray(mixture, dtype=float))
        weights = self.space.check(weights, where="attach")
        fidelity = self.ladder.rung(rung).fidelity
        index = self.ax.attach(self.space.params_from_weights(weights, fidelity), None)
        if reference is not None:
            self.experiment.trials[index].update_run_metadata({REFERENCE_KEY: reference})
        self.trials.add(index, weights, self.ladder.names.index(rung), None)
        self._started[index] = pd.Timestamp.now(tz="UTC")
        self._history = None
        return index

    def _running(self, index: int, where: str) -> None:
        status = self.ax.status(index)
        if status is None:
            raise ValidationError(f"no trial {index} in this study", where=where)
        if status != TrialStatus.RUNNING:
            raise ValidationError(f"trial {index} is {status.name.lower()}, not running",
                                  where=where)

    def complete(self, trial_index: int, metrics: Mapping[str, float], cost: float,
                 *, seed: int | None = None,
                 covariates: Mapping[str, float] | None = None) -> None:
        """Record a finished trial. A NaN/inf metric or cost is refused (the trial stays
        running, so the caller can ``fail`` it) and never reaches the model. ``covariates``
        (the pool's state, ``pool:`` columns) go to the runs table as they are."""
        where = f"trial {trial_index}"
        self._running(trial_index, where)
        clean = clean_metrics(metrics, self.metric, where)
        if not isinstance(cost, int | float) or not math.isfinite(cost) or cost < 0:
            raise ValidationError(f"cost must be a finite number >= 0, got {cost!r}", where=where)
        known = self._metric_names
        if known and set(known) != set(clean):
            raise ValidationError(f"metrics {sorted(clean)} differ from this study's "
                                  f"{sorted(known)}", where=where)
        self._metric_names = known or list(clean)
        self._append_row(trial_index, runs.COMPLETED, clean, float(cost), seed, covariates)
        self.ax.complete(trial_index, clean[self.metric], float(cost))
        self.trials.complete(trial_index, self.sign * clean[self.metric],
                             self.budget.units(float(cost)), self._outcomes(clean, where))
        self._history = None
        self.policy.observe(self.history())

    def _outcomes(self, metrics: Mapping[str, float], where: str) -> np.ndarray | None:
        """Every metric a multi-objective study tracks (None for one objective)."""
        spec = self.config.outcomes()
        if spec is None:
            return None
        missing = [m for m in spec.metrics if m not in metrics]
        if missing:
            raise ValidationError(f"metrics {missing} (objectives or constraints) missing from "
                                  f"{sorted(metrics)}", where=where)
        return np.array([float(metrics[m]) for m in spec.metrics])

    def _recorded_results(self) -> dict[str, tuple[float, float]]:
        """Run id -> (objective value, raw cost) of the completed rows of the runs table."""
        table, column = self._table, runs.METRIC_PREFIX + self.metric
        if not len(table) or column not in table.columns:
            return {}
        done = table[table[runs.STATUS] == runs.COMPLETED]
        return {str(run_id): (float(value), float(cost)) for run_id, value, cost
                in zip(done[runs.RUN_ID], done[column], done[runs.COST], strict=True)}

    def _fill_outcomes(self) -> None:
        """A resumed multi-objective study: Ax records one metric, the runs table all of them."""
        spec = self.config.outcomes()
        if spec is None or not len(self._table):
            return
        rows = self._table.set_index(runs.RUN_ID)
        for index, record in self.trials.records.items():
            run_id = self.run_id(index)
            if record.status == COMPLETED and record.outcomes is None and run_id in rows.index:
                row = rows.loc[run_id]
                record.outcomes = np.array([float(row[runs.METRIC_PREFIX + m])
                                            for m in spec.metrics])

    def fail(self, trial_index: int, reason: str, *, cost: float = 0.0) -> None:
        """Record a failed trial; it is never given to the model."""
        self._running(trial_index, f"trial {trial_index}")
        metrics = dict.fromkeys(self._metric_names, math.nan)
        self._append_row(trial_index, runs.FAILED, metrics,
                         float(cost) if math.isfinite(cost) else 0.0, None)
        self.ax.fail(trial_index, reason)
        self.trials.end(trial_index, FAILED)
        self._history = None

    def abandon(self, trial_index: int, reason: str) -> None:
        """Give up a proposed trial that was never run (over budget, cancelled): no runs-table
        row, and its candidate is not proposed again."""
        self._running(trial_index, f"trial {trial_index}")
        self.ax.abandon(trial_index, reason)
        self.trials.end(trial_index, ABANDONED)
        self._history = None

    def _append_row(self, index: int, status: str, metrics: Mapping[str, float], cost: float,
                    seed: int | None, covariates: Mapping[str, float] | None = None) -> None:
        """Add one finished run to the runs table. Its parts are checked already (metrics finite,
        weights from the space, the rung from the ladder): the table is validated as a whole
        when it is next read, so an append stays O(1) over a long study."""
        run_id = self.run_id(index)
        if run_id in self._run_ids:
            raise ValidationError(f"trial {index} already has a row", where="runs table")
        weights, rung = trial_point(self.space, self.ladder, self.ax.params(index))
        weights = self.space.project(weights)
        row: dict[str, Any] = {runs.RUN_ID: run_id, runs.STUDY: self.config.name}
        row.update({runs.WEIGHT_PREFIX + d: w for d, w in zip(self.space.domains, weights,
                                                              strict=True)})
        level = self.ladder.rungs[rung]
        row.update({runs.RUNG: level.name, runs.FIDELITY: level.fidelity, runs.COST: cost})
        row.update({runs.METRIC_PREFIX + k: v for k, v in metrics.items()})
        row.update({k: float(v) for k, v in (covariates or {}).items()
                    if k.startswith(runs.POOL_PREFIX)})
        row.update({runs.STATUS: status, runs.SEED: seed,
                    runs.STARTED_AT: self._started.get(index, pd.NaT),
                    runs.FINISHED_AT: pd.Timestamp.now(tz="UTC")})
        self._new_rows.append(row)
        self._run_ids.add(run_id)
        self._spent_raw += cost

    @property
    def runs(self) -> pd.DataFrame:
        """The runs table: one row per finished run (completed or failed)."""
        if self._new_rows:
            new = runs.validate_runs(pd.DataFrame(self._new_rows), source="study runs",
                                     rungs=self.ladder.names)[0]
            self._table = (pd.concat([self._table, new], ignore_index=True) if len(self._table)
                           else new)
            self._new_rows = []
        return self._table

    def run_id(self, trial_index: int) -> str:
        return f"{self.config.name}-{trial_index:05d}"

    # --- state ---------------------------------------------------------------------------------

    def references(self) -> dict[str, int]:
        """Reference name -> the trial that trains it."""
        return {str(self.ax.metadata(i)[REFERENCE_KEY]): i for i in self.ax.indices()
                if REFERENCE_KEY in self.ax.metadata(i)}

    def trials_by_status(self, status: TrialStatus) -> list[int]:
        return self.ax.indices(status)

    @property
    def n_completed(self) -> int:
        return len(self.trials_by_status(TrialStatus.COMPLETED))

    def spent(self) -> float:
        """Cost of every finished run (completed or failed), in target-run units."""
        return self.budget.units(self._spent_raw)

    def expected_cost(self, rung: str) -> float:
        """Expected cost of one run of ``rung`` in target-run units (the cost model)."""
        return float(self.history().budget.rung_cost[self.ladder.names.index(rung)])

    def proposal_of(self, trial_index: int) -> Proposal:
        weights, rung = trial_point(self.space, self.ladder, self.ax.params(trial_index))
        level = self.ladder.rungs[rung]
        return Proposal(trial_index, self.space.as_dict(self.space.project(weights)), level.name,
                        level.fidelity, self.ax.candidate(trial_index))

    def history(self) -> History:
        """The history the policy decides on (cached until the study changes)."""
        if self._history is None:
            self._history = self._build_history()
        return self._history

    def _build_history(self) -> History:
        estimates = np.array([r.cost_estimate for r in self.ladder.rungs])
        return self.trials.history(self.budget.total, self.spent(), estimates, self.budget.unit)

    def _observed(self) -> History:
        """The history to recommend from: a warm-started study has an answer before its first
        run (the earlier studies' runs mapped into its domains), any other needs one run."""
        history = self.history()
        if history.observations.n == 0 and self.prior is None:
            raise AdmireError("no completed trials yet: nothing to recommend")
        return history

    def recommend(self, *, interval: bool = True) -> Recommendation:
        """The policy's best mixture at the target rung, with its predicted value and 90%
        interval (for the mean) where the policy has a model; ``interval=False`` skips the
        interval where it costs extra."""
        return self.policy.recommend(self._observed(), interval=interval)

    def predict(self, mixture: np.ndarray) -> Recommendation | None:
        """The policy model's prediction at the target rung for ``mixture`` (weights in the
        space's domain order) with its two 90% intervals, which also carry the
        hyperparameters' uncertainty (a mixture the study did not choose); None without a
        model or data. Until the target rung has enough runs to check them on, the intervals
        are None and ``interval_note`` says why; ``reach`` says whether the mixture lies beyond
        the distance they were checked at (:mod:`admire.bo.reach`)."""
        history = self.history()
        return (self.policy.predict(history, np.asarray(mixture, dtype=float))
                if history.observations.n or self.prior is not None else None)

    def recommend_pareto(self, *, interval: bool = True) -> Any:
        """The predicted Pareto set at the target rung and the trade-off's pick
        (:func:`admire.bo.pareto.pareto_recommendation`); needs ``[[objectives]]``."""
        if not self.config.multi_objective:
            raise AdmireError("recommend_pareto needs a study with [[objectives]]")
        from admire.bo.pareto import pareto_recommendation

        return pareto_recommendation(self.policy, self._observed(), interval=interval)

    # --- limits and config on resume -----------------------------------------------------------

    def reconfigure(self, config: StudyConfig) -> list[str]:
        """Apply a changed config to a resumed study: the limits and the policy change
        everywhere at once; what defines the study (domains, objective, ladder, proxy) must
        not change (an error names the field). Returns what changed."""
        check_same_study(self.config, config)
        changed = [f for f in ("budget", "max_trials", "max_parallel", "policy", "seed",
                                  "confirm_seeds")
                   if getattr(self.config, f) != getattr(config, f)]
        self.config = config
        self.budget = self.budget.with_limits(config.budget, config.max_trials)
        if {"policy", "seed"} & set(changed):
            state = self.policy.state()
            self.policy = self._build_policy()
            if state is not None and "policy" not in changed:
                self.policy.restore(state)
        elif "budget" in changed:
            self._build_policy()  # re-checks that the policy has the budget it needs
        self._history = None
        return changed

    # --- storage -------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write the study to ``directory`` (each file atomically); returns the directory."""
        if self.prior is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
            write_prior(self.prior, Path(directory))
        return write_study(directory, config=self.config, budget=self.budget,
                           runs_table=self.runs, ax=self.ax, pool=self.pool,
                           policy_state=self.policy.state())

    @classmethod
    def load(cls, directory: str | Path) -> Study:
        """Rebuild a saved study; trials that were running stay running (the caller re-runs
        or fails them), and the runs table and experiment are reconciled."""
        saved = read_study(directory)
        study = cls(saved.config, pool=saved.pool, experiment=saved.experiment,
                    runs_table=saved.runs_table, budget=saved.budget,
                    prior=read_prior(Path(directory)))
        if saved.policy_state is not None:
            study.policy.restore(saved.policy_state)
        study._reconcile()
        return study

    def _reconcile(self) -> None:
        """Finish in Ax any running trial whose result row reached the runs table (a crash
        between the two writes of a save)."""
        recorded = {row[runs.RUN_ID]: row for _, row in self.runs.iterrows()}
        for index in self.trials_by_status(TrialStatus.RUNNING):
            row = recorded.get(self.run_id(index))
            if row is None:
                continue
            if row[runs.STATUS] == runs.COMPLETED:
                value, cost = float(row[runs.METRIC_PREFIX + self.metric]), float(row[runs.COST])
                self.ax.complete(index, value, cost)
                self.trials.complete(index, self.sign * value, self.budget.units(cost),
                                     self._outcomes({k[len(runs.METRIC_PREFIX):]: v
                                                     for k, v in row.items()
                                                     if str(k).startswith(runs.METRIC_PREFIX)},
                                                    f"trial {index}"))
            else:
                self.ax.fail(index, "failed (recovered)")
                self.trials.end(index, FAILED)
        self._history = None


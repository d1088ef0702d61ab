"""The one module that talks to Ax: the experiment, its trials, their data, and its storage.

Ax holds the study's record: a search space with one FLOAT parameter per domain weight (``w{i}``,
since domain names may hold characters Ax cannot parse), an exact-sum equality constraint, and a
``fidelity`` parameter flagged ``is_fidelity`` whose target value is the target rung; one trial
per run, with the objective and the run's cost as data; Ax's JSON storage. admire's policy
decides what to run (``attach_trial``); Ax records it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
from ax import Client
from ax.core.experiment import Experiment
from ax.core.metric import Metric
from ax.core.objective import Objective
from ax.core.optimization_config import OptimizationConfig
from ax.core.trial_status import TrialStatus
from ax.storage.json_store.load import load_experiment
from ax.storage.json_store.save import save_experiment

from admire.io import atomic_write
from admire.schema.ladder import FidelityLadder
from admire.space import FIDELITY_PARAM, MixtureSpace

for _name in ("ax", "ax.api.client", "ax.generation_strategy", "ax.core.experiment"):
    logging.getLogger(_name).setLevel(logging.WARNING)

COST_METRIC = "cost"  # the Ax tracking metric holding each trial's cost
CANDIDATE_KEY = "admire_candidate"  # run metadata: the pool row a trial ran
REFERENCE_KEY = "admire_reference"  # run metadata: the reference mixture a trial trains
OBJECTIVE_KEY = "admire_objective"  # experiment property: the metric's real name


def ax_metric_name(metric: str) -> str:
    """A metric name Ax stores and parses back verbatim (``avg_id+ood`` would reload as a sum
    of two metrics); the real name is kept in the experiment's properties."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", metric)
    return f"objective_{name}" if name in (COST_METRIC, "") or name[0].isdigit() else name


def new_experiment(name: str, space: MixtureSpace, ladder: FidelityLadder, metric: str,
                   minimize: bool) -> Experiment:
    objective = Objective(metric=Metric(ax_metric_name(metric)), minimize=minimize)
    experiment = Experiment(search_space=space.to_ax(ladder), name=name,
                            optimization_config=OptimizationConfig(objective=objective),
                            tracking_metrics=[Metric(COST_METRIC)])
    experiment._properties[OBJECTIVE_KEY] = metric
    return experiment


class AxRecord:
    """A study's Ax experiment, read and written in admire's terms."""

    def __init__(self, experiment: Experiment, metric: str) -> None:
        self.experiment = experiment
        self.ax_metric = ax_metric_name(metric)
        self.client = Client()
        self.client.set_experiment(experiment)

    # --- writing ---------------------------------------------------------------------------

    def attach(self, params: dict[str, float], candidate_id: str | None) -> int:
        index = self.client.attach_trial(params)
        if candidate_id is not None:
            self.experiment.trials[index].update_run_metadata({CANDIDATE_KEY: candidate_id})
        return index

    def complete(self, index: int, value: float, cost: float) -> None:
        """Attach the trial's data and mark it completed: what ``Client.complete_trial`` does,
        without its log line, which re-reads every trial's data (quadratic over a study)."""
        trial = self.experiment.trials[index]
        trial.update_trial_data(raw_data={self.ax_metric: value, COST_METRIC: cost})
        trial.mark_completed()

    def fail(self, index: int, reason: str) -> None:
        self.experiment.trials[index].update_run_metadata({"failure_reason": reason})
        self.client.mark_trial_failed(index, failed_reason=reason)

    def abandon(self, index: int, reason: str) -> None:
        self.experiment.trials[index].update_run_metadata({"abandoned_reason": reason})
        self.client.mark_trial_abandoned(index)

    # --- reading ---------------------------------------------------------------------------

    def status(self, index: int) -> TrialStatus | None:
        trial = self.experiment.trials.get(index)
        return None if trial is None else trial.status

    def indices(self, status: TrialStatus | None = None) -> list[int]:
        return sorted(i for i, t in self.experiment.trials.items()
                      if status is None or t.status == status)

    def params(self, index: int) -> dict[str, Any]:
        return dict(self.experiment.trials[index].arm.parameters)

    def metadata(self, index: int) -> dict[str, Any]:
        return self.experiment.trials[index].run_metadata

    def candidate(self, index: int) -> str | None:
        value = self.metadata(index).get(CANDIDATE_KEY)
        return None if value is None else str(value)

    def values(self, metric: str | None = None) -> dict[int, float]:
        """Trial index -> recorded value of ``metric`` (default: the objective)."""
        df = self.experiment.lookup_data().df
        if df.empty:
            return {}
        rows = df[df["metric_name"] == (metric or self.ax_metric)]
        return dict(zip(rows["trial_index"].astype(int), rows["mean"].astype(float),
                        strict=True))

    # --- storage ---------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        atomic_write(path, lambda tmp: save_experiment(self.experiment, str(tmp)),
                     tmp_suffix=".json")  # Ax refuses a file name without .json

    @staticmethod
    def load(path: Path) -> Experiment:
        return load_experiment(str(path))


def trial_point(space: MixtureSpace, ladder: FidelityLadder, params: dict[str, Any]
                ) -> tuple[np.ndarray, int]:
    """(weights, rung index) of a trial's parameters."""
    rung = ladder.by_fidelity(float(params[FIDELITY_PARAM]))
    return space.weights_from_params(params), ladder.rungs.index(rung)

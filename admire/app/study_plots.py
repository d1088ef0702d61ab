"""The files a live study leaves next to its runs table: recommendation.json and three plots.

Plots (matplotlib, headless): the objective of every finished trial against cumulative cost,
one colour per rung (did cheap rungs track the target?); the fidelity schedule (which rung the
strategy bought, in order); and the recommended mixture with its predicted value and interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from ax.core.trial_status import TrialStatus  # noqa: E402

from admire.app.view import interval_text  # noqa: E402
from admire.bo.policies.base import Recommendation  # noqa: E402
from admire.io import atomic_write, atomic_write_json  # noqa: E402
from admire.schema import runs  # noqa: E402
from admire.study import Study  # noqa: E402

PLOTS = ("objective_vs_cost.png", "fidelity_schedule.png", "recommended_mixture.png")


def failures(study: Study) -> list[dict[str, Any]]:
    """Every failed trial with its rung and reason (the runs table has no reason column)."""
    out = []
    for index in study.trials_by_status(TrialStatus.FAILED):
        trial = study.experiment.trials[index]
        out.append({"trial": index, "run_id": study.run_id(index),
                    "rung": study.proposal_of(index).rung,
                    "reason": str(trial.run_metadata.get("failure_reason", "unknown"))})
    return out


def write_recommendation(study: Study, rec: Recommendation | None, out: Path,
                         extra: Mapping[str, Any]) -> Path:
    """``recommendation.json``: the recommendation, what it cost, and every failure."""
    table = study.runs
    per_rung = {r.name: {"completed": int(((table[runs.RUNG] == r.name)
                                           & (table[runs.STATUS] == runs.COMPLETED)).sum()),
                         "failed": int(((table[runs.RUNG] == r.name)
                                        & (table[runs.STATUS] == runs.FAILED)).sum())}
                for r in study.ladder.rungs}
    payload = {"study": study.config.name,
               "objective": {"metric": study.metric, "minimize": study.config.objective.minimize},
               "recommendation": None if rec is None else rec.to_dict(),
               "spent_target_runs": study.spent(), "cost_unit": study.budget.unit,
               "budget": study.budget.to_dict(), "policy": study.config.policy.to_dict(),
               "trials_per_rung": per_rung, "failures": failures(study), **dict(extra)}
    return atomic_write_json(out / "recommendation.json", payload, indent=2)


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(runs.FINISHED_AT, kind="stable").reset_index(drop=True)


def plot_objective_vs_cost(study: Study, path: Path) -> Path:
    table = _ordered(study.runs)
    unit = study.budget.unit
    cumulative = table[runs.COST].cumsum() / unit
    column = runs.METRIC_PREFIX + study.metric
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for rung in study.ladder.rungs:
        rows = (table[runs.RUNG] == rung.name) & (table[runs.STATUS] == runs.COMPLETED)
        if rows.any() and column in table:
            ax.scatter(cumulative[rows], table.loc[rows, column], label=rung.name, s=28)
    failed = table[runs.STATUS] == runs.FAILED
    if failed.any() and column in table and table.loc[~failed, column].notna().any():
        y = np.full(int(failed.sum()), float(table.loc[~failed, column].median()))
        ax.scatter(cumulative[failed], y, marker="x", color="red", label="failed (at median)")
    ax.set_xlabel("cumulative cost (target-rung runs)")
    ax.set_ylabel(f"{study.metric} ({'lower' if study.config.objective.minimize else 'higher'}"
                  " is better)")
    ax.set_title(f"{study.config.name}: objective vs cost per rung")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return _save(fig, path)


def plot_fidelity_schedule(study: Study, path: Path) -> Path:
    table = _ordered(study.runs)
    names = study.ladder.names
    level = table[runs.RUNG].map({n: i for i, n in enumerate(names)})
    done = table[runs.STATUS] == runs.COMPLETED
    fig, ax = plt.subplots(figsize=(7, 3.2))
    order = np.arange(1, len(table) + 1)
    ax.step(order, level, where="mid", color="0.7", zorder=1)
    ax.scatter(order[done], level[done], label="completed", zorder=2)
    if (~done).any():
        ax.scatter(order[~done], level[~done], marker="x", color="red", label="failed",
                   zorder=2)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("finished trial")
    ax.set_title("fidelity schedule")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_mixture(rec: Recommendation | None, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if rec is None:
        ax.text(0.5, 0.5, "no completed trials: no recommendation", ha="center")
        ax.set_axis_off()
    else:
        names = list(rec.mixture)
        ax.bar(names, [rec.mixture[n] for n in names], color="tab:blue")
        ax.set_ylabel("weight")
        ax.set_ylim(0, 1)
        ax.set_title(f"recommended mixture at {rec.rung}: predicted {rec.predicted:.4g} "
                     f"{interval_text(rec)}, 90%")
        ax.tick_params(axis="x", rotation=30)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def write_plots(study: Study, rec: Recommendation | None, out: Path) -> list[Path]:
    if not len(study.runs):
        return [plot_mixture(None, out / PLOTS[2])]
    return [plot_objective_vs_cost(study, out / PLOTS[0]),
            plot_fidelity_schedule(study, out / PLOTS[1]),
            plot_mixture(rec, out / PLOTS[2])]

"""The files a live study leaves next to its runs table: recommendation.json and three plots.

Plots (matplotlib, headless), each readable alone: the objective of every completed run against
the cost spent, one colour per rung, the best so far at the target, the reference mixtures'
target values as labelled lines, the recommendation's prediction at the end (its new-run
interval as the error bar) and mixtures retrained afterwards (the tune's confirmation and
``admire evaluate``'s runs, with the study's own run there: the interval a new run with any
seed falls in, as ``admire tune`` prints it); the fidelity schedule (which rung the policy
bought, in order); and the recommended mixture with its predicted value and both its
intervals.
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
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from admire.app.confirm import run_interval, study_value  # noqa: E402
from admire.app.evaluations import MixtureResult, grouped, load_evaluations  # noqa: E402
from admire.app.view import interval_text  # noqa: E402
from admire.bo.policies.base import Recommendation  # noqa: E402
from admire.io import atomic_write, atomic_write_json  # noqa: E402
from admire.schema import runs  # noqa: E402
from admire.space import MixtureSpace  # noqa: E402
from admire.study import Study  # noqa: E402

PLOTS = ("objective_vs_cost.png", "fidelity_schedule.png", "recommended_mixture.png")
REFERENCE_COLOURS = ("tab:green", "tab:orange", "tab:red", "tab:gray")
EVALUATION_COLOURS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


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
    if study.config.multi_objective and rec is not None:
        # Several objectives: the predicted Pareto set with intervals and the trade-off's pick.
        payload["objectives"] = [{"metric": m, "minimize": flag}
                                 for m, flag in study.config.objectives]
        payload["pareto"] = study.recommend_pareto().to_dict()
    return atomic_write_json(out / "recommendation.json", payload, indent=2)


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(runs.FINISHED_AT, kind="stable").reset_index(drop=True)


def reference_names(study: Study) -> dict[str, str]:
    """run id -> reference name, for the study's reference mixtures (uniform, natural, the
    user's): baselines to compare with, not the policy's own picks."""
    return {study.run_id(trial): name for name, trial in study.references().items()}


def best_so_far(values: pd.Series, minimize: bool) -> np.ndarray:
    """The running best of ``values`` (in order) in the objective's direction."""
    array = values.to_numpy(dtype=float)
    return np.minimum.accumulate(array) if minimize else np.maximum.accumulate(array)


def rec_interval(rec: Recommendation) -> tuple[float, float, str] | None:
    """The interval drawn on the recommendation: one new run's (seed noise included), else the
    mean's; None when the recommendation has none."""
    if rec.run_lower90 is not None and rec.run_upper90 is not None:
        return rec.run_lower90, rec.run_upper90, "90% for one new run"
    if rec.lower90 is not None and rec.upper90 is not None:
        return rec.lower90, rec.upper90, "90% for the mean"
    return None


def interval_caption(rec: Recommendation) -> str:
    """Both intervals in words (:func:`admire.app.view.interval_text`), or why there is none."""
    if rec.lower90 is None or rec.upper90 is None:
        why = {"observed": "the best value observed, no model",
               "model": "a model mean without an interval"}.get(rec.basis, rec.basis)
        return f"(no interval: {why})"
    return f"(90%: {interval_text(rec).strip()[1:-1]})"


def _direction(study: Study) -> str:
    return "lower is better" if study.config.objective.minimize else "higher is better"


def objective_vs_cost_figure(study: Study, rec: Recommendation | None,
                             evaluations: list[MixtureResult] | None = None,
                             study_seed: int | None = None) -> Figure:
    """Every completed run against the cumulative cost when it finished, one colour per rung;
    the best so far at the target rung; the reference mixtures' target values as labelled
    horizontal lines; the recommendation (predicted, at the cost where the study ended, with its
    interval as an error bar); and mixtures retrained afterwards with the study's own run
    there (the one with ``study_seed``; mean and the interval for a new run with any seed)."""
    table = _ordered(study.runs)
    unit = study.budget.unit
    minimize = study.config.objective.minimize
    target = study.ladder.target.name
    cumulative = table[runs.COST].cumsum() / unit
    end = float(cumulative.iloc[-1]) if len(table) else 0.0
    column = runs.METRIC_PREFIX + study.metric
    refs = table[runs.RUN_ID].map(reference_names(study))
    done = (table[runs.STATUS] == runs.COMPLETED) & (table[column].notna() if column in table
                                                      else False)
    fig, ax = plt.subplots(figsize=(10, 5.2))
    for i, rung in enumerate(study.ladder.rungs):
        own = done & (table[runs.RUNG] == rung.name) & refs.isna()
        if own.any():
            ax.scatter(cumulative[own], table.loc[own, column], s=26, color=f"C{i}",
                       alpha=0.75, label=f"{rung.name} runs")
    at_target = done & (table[runs.RUNG] == target)  # references included: seen is seen
    if at_target.any():
        best = best_so_far(table.loc[at_target, column], minimize)
        x = np.append(cumulative[at_target].to_numpy(), end)
        ax.step(x, np.append(best, best[-1]), where="post", color="black", lw=1.8,
                label=f"best so far at {target} (the target)")
    for j, name in enumerate(dict.fromkeys(refs.dropna())):
        rows = done & (refs == name)
        if not rows.any():
            continue
        x, y = float(cumulative[rows].iloc[-1]), float(table.loc[rows, column].iloc[-1])
        colour = REFERENCE_COLOURS[j % len(REFERENCE_COLOURS)]
        ax.axhline(y, color=colour, ls="--", lw=1.1,
                   label=f"reference: {name} at {target} ({y:.4g})")
        ax.scatter([x], [y], marker="D", s=46, color=colour, edgecolor="black", zorder=4)
        ax.annotate(name, (0.0, y), xycoords=("axes fraction", "data"), xytext=(3, 3 + 9 * j),
                    textcoords="offset points", fontsize=8, color=colour)  # staggered
    failed = table[runs.STATUS] == runs.FAILED
    if failed.any() and done.any():
        y_fail = np.full(int(failed.sum()), float(table.loc[done, column].median()))
        ax.scatter(cumulative[failed], y_fail, marker="x", color="red",
                   label="failed (drawn at the median)")
    if rec is not None:
        interval = rec_interval(rec)
        yerr = None if interval is None else [[rec.predicted - interval[0]],
                                              [interval[1] - rec.predicted]]
        what = "no interval" if interval is None else f"bar: {interval[2]}"
        ax.errorbar([end], [rec.predicted], yerr=yerr, fmt="*", ms=15, color="black",
                    mfc="gold", capsize=5, lw=1.5, zorder=5,
                    label=f"recommended: predicted {rec.predicted:.4g}\n(the model's best mean, "
                          f"not the best\nsingle run; {what})")
    if evaluations:
        _draw_evaluations(ax, evaluations, end, study, study_seed)
    ax.set_xlabel("cumulative cost (target-rung runs)")
    ax.set_ylabel(f"{study.metric} ({_direction(study)})")
    budget = "" if study.budget.total is None else f" of a {study.budget.total:g} budget"
    ax.set_title(f"{study.config.name}: {study.metric} of every run against the cost spent\n"
                 f"{len(table)} runs, {end:.2f} target-rung runs spent{budget}; "
                 f"{_direction(study)}", fontsize=10)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def _draw_evaluations(ax: Any, evaluations: list[MixtureResult], end: float,
                      study: Study, study_seed: int | None) -> None:
    """Retrained mixtures to the right of the study's end (they are not part of its spend):
    the mean of their fresh seeds and the study's own run there, with Student t's interval for
    one new run with any seed, the one ``admire tune`` prints for its confirmation."""
    step = max(end, 1.0) * 0.05
    column = runs.METRIC_PREFIX + study.metric
    ax.axvline(end, color="0.5", ls=":", lw=1,
               label="end of the study (retrained to its right,\nnot in its budget)")
    for j, result in enumerate(evaluations):
        own = study_value(study.runs, column, result.rung, result.weights)
        fresh = [v for s, v in result.values.items() if own is None or s != study_seed]
        values = [*fresh, *([] if own is None else [own])]
        mean, interval = float(np.mean(values)), run_interval(values)
        study_run = "" if own is None else " and the study's run"
        what = (f"mean of {len(values)} run (no interval)" if interval is None else
                f"mean and 90% for a new run with any seed,\nStudent t over "
                f"{len(fresh)} fresh seed{'' if len(fresh) == 1 else 's'}{study_run}")
        ax.errorbar([end + step * (j + 1)], [mean],
                    yerr=None if interval is None else [[mean - interval[0]],
                                                        [interval[1] - mean]],
                    fmt="o", ms=7, capsize=4, mfc="white", mew=2, zorder=5,
                    color=EVALUATION_COLOURS[j % len(EVALUATION_COLOURS)],
                    label=f"retrained: {result.name} at {result.rung}\n({what})")
    ax.set_xlim(right=end + step * (len(evaluations) + 1.5))


def plot_objective_vs_cost(study: Study, path: Path, rec: Recommendation | None = None,
                           evaluations: list[MixtureResult] | None = None,
                           study_seed: int | None = None) -> Path:
    """Write :func:`objective_vs_cost_figure` (retrained mixtures read from ``evaluations.json``
    beside ``path`` unless given)."""
    if evaluations is None:
        evaluations = grouped(load_evaluations(path.parent))
    return _save(objective_vs_cost_figure(study, rec, evaluations, study_seed), path)


def fidelity_schedule_figure(study: Study) -> Figure:
    """Which rung each finished run bought, in the order they finished."""
    table = _ordered(study.runs)
    names = study.ladder.names
    level = table[runs.RUNG].map({n: i for i, n in enumerate(names)})
    done = table[runs.STATUS] == runs.COMPLETED
    fig, ax = plt.subplots(figsize=(8, 3.4))
    order = np.arange(1, len(table) + 1)
    ax.step(order, level, where="mid", color="0.7", zorder=1)
    ax.scatter(order[done], level[done], label="completed", zorder=2)
    if (~done).any():
        ax.scatter(order[~done], level[~done], marker="x", color="red", label="failed",
                   zorder=2)
    counts = table[runs.RUNG].value_counts()
    ax.set_yticks(range(len(names)), [f"{n} ({int(counts.get(n, 0))})" for n in names])
    ax.set_ylim(-0.5, len(names) - 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # runs are counted, never halved
    ax.set_xlabel("finished run (in the order they finished)")
    ax.set_ylabel("rung (runs)")
    ax.set_title(f"{study.config.name}: fidelity schedule (cheapest rung at the bottom, the "
                 f"target {names[-1]} at the top)", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_fidelity_schedule(study: Study, path: Path) -> Path:
    return _save(fidelity_schedule_figure(study), path)


def mixture_figure(rec: Recommendation | None, metric: str | None = None,
                   space: MixtureSpace | None = None) -> Figure:
    """The recommended weights (with the domains' bounds where they bind), its predicted value
    and what its interval covers."""
    fig, ax = plt.subplots(figsize=(8, 4))
    if rec is None:
        ax.text(0.5, 0.5, "no completed trials: no recommendation", ha="center")
        ax.set_axis_off()
        return fig
    names = list(rec.mixture)
    weights = [rec.mixture[n] for n in names]
    bars = ax.bar(names, weights, color="tab:blue", label="recommended weight")
    inside = [f"{w:.3f}" if w >= 0.08 else "" for w in weights]  # clear of the bound marks
    ax.bar_label(bars, labels=inside, label_type="center", fontsize=9, color="white")
    ax.bar_label(bars, labels=[f"{w:.3f}" if w < 0.08 else "" for w in weights], fontsize=8,
                 padding=2)
    ax.axhline(1 / len(names), color="0.4", ls="--", lw=1, label=f"uniform (1/{len(names)})")
    if space is not None:
        bounds = dict(zip(space.domains, zip(space.lower, space.upper, strict=True),
                          strict=True))
        tight = [(i, *bounds[n]) for i, n in enumerate(names)
                 if n in bounds and (bounds[n][0] > 0 or bounds[n][1] < 1)]
        if tight:
            ax.scatter([i for i, _, _ in tight], [hi for _, _, hi in tight], marker="_", s=400,
                       color="tab:red", zorder=3, label="upper bound")
            lows = [(i, lo) for i, lo, _ in tight if lo > 0]
            if lows:
                ax.scatter(*zip(*lows, strict=True), marker="_", s=400, color="tab:green",
                           zorder=3, label="lower bound")
    ax.set_ylabel("weight (sums to 1)")
    ax.set_ylim(0, 1.08)
    what = metric or "objective"
    ax.set_title(f"recommended mixture for {rec.rung} (from {rec.n_observations} runs)\n"
                 f"predicted {what} {rec.predicted:.4g} {interval_caption(rec)}", fontsize=10)
    ax.tick_params(axis="x", rotation=30)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_mixture(rec: Recommendation | None, path: Path, metric: str | None = None,
                 space: MixtureSpace | None = None) -> Path:
    return _save(mixture_figure(rec, metric, space), path)


def _save(fig: Figure, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def write_plots(study: Study, rec: Recommendation | None, out: Path,
                study_seed: int | None = None) -> list[Path]:
    """The three plots of a study in ``out`` (only the mixture's while nothing has run);
    ``study_seed``: the seed every trial trained with."""
    if not len(study.runs):
        return [plot_mixture(None, out / PLOTS[2])]
    return [plot_objective_vs_cost(study, out / PLOTS[0], rec, study_seed=study_seed),
            plot_fidelity_schedule(study, out / PLOTS[1]),
            plot_mixture(rec, out / PLOTS[2], study.metric, study.space)]

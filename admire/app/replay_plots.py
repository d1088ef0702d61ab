"""What a replay leaves for a person: ``regret_vs_cost.png`` and ``summary.md``.

The plot is small multiples, one panel per policy on shared linear axes: its median regret and
interquartile band, with a reference policy (admire's default, else the best) drawn faintly in
every panel, so policies separate at a glance and "found the best" reads as reaching 0 (a log
axis needs a floor, which turns that into a cliff). ``summary.md`` is the table with what the
replay was, how it was produced, and what each column means.
"""

from __future__ import annotations

import math
import shlex
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from admire.bo.policies.registry import ALIAS, DEFAULT_POLICY  # noqa: E402
from admire.io import atomic_write  # noqa: E402
from admire.replay.summary import median, summary_rows  # noqa: E402

DEFAULT_POLICIES = (ALIAS, DEFAULT_POLICY)  # admire's default, as replay names it
GRID_POINTS = 400


def regret_grid(curves: list[list[list[float]]], grid: np.ndarray) -> np.ndarray:
    """Step-interpolate each seed's (cost, regret) curve on ``grid`` (NaN before its first pick)."""
    out = np.full((len(curves), len(grid)), np.nan)
    for i, curve in enumerate(curves):
        if not curve:
            continue
        costs = np.array([c for c, _ in curve])
        regrets = np.array([r for _, r in curve])
        pos = np.searchsorted(costs, grid, side="right") - 1
        valid = pos >= 0
        out[i, valid] = regrets[pos[valid]]
    return out


def regret_bands(method: dict[str, Any], grid: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median, 25th, 75th percentile) of regret over seeds at each grid cost; NaN where fewer
    than half of the seeds have recommended yet (as the table's "never")."""
    values = regret_grid(method["curves"], grid)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns before any pick
        med = np.nanmedian(values, axis=0)
        q1, q3 = np.nanpercentile(values, [25, 75], axis=0)
    early = np.isfinite(values).sum(axis=0) * 2 < max(len(values), 1)
    for band in (med, q1, q3):
        band[early] = np.nan
    return med, q1, q3


def reference_policy(summary: dict[str, Any], grid: np.ndarray) -> str:
    """admire's default if it was replayed, else the policy with the lowest mean median regret."""
    names = list(summary["methods"])
    for name in DEFAULT_POLICIES:
        if name in names:
            return name

    def area(name: str) -> float:
        med = regret_bands(summary["methods"][name], grid)[0]
        return float(np.nanmean(med)) if np.isfinite(med).any() else math.inf

    return min(names, key=area)


def _seeds(summary: dict[str, Any]) -> int:
    return max((len(m["curves"]) for m in summary["methods"].values()), default=0)


def _better(summary: dict[str, Any]) -> str:
    return "lower" if summary["direction"] == "minimize" else "higher"


def regret_figure(summary: dict[str, Any], *, problem: str | None = None) -> Figure:
    """The small multiples (see the module docstring): one axes per policy, in summary order,
    then one holding the legend."""
    methods = summary["methods"]
    names = list(methods)
    grid = np.linspace(0, summary["budget"], GRID_POINTS)
    reference = reference_policy(summary, grid)
    bands = {name: regret_bands(methods[name], grid) for name in names}
    slots = len(names) + 1  # one spare panel holds the legend
    cols = 2 if slots in (2, 4) else 3
    rows = math.ceil(slots / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, max(4.6, 3.1 * rows + 1.1)),
                             sharex=True, sharey=True, squeeze=False)
    top = max((float(np.nanmax(b[2])) for b in bands.values() if np.isfinite(b[2]).any()),
              default=1.0) or 1.0
    for i, (ax, name) in enumerate(zip(axes.flat, names, strict=False)):
        med, q1, q3 = bands[name]
        colour = f"C{i}"
        ax.fill_between(grid, q1, q3, step="post", alpha=0.25, color=colour, lw=0,
                        label="IQR")
        ax.step(grid, med, where="post", color=colour, lw=2.2, label="median")
        other = reference if name != reference else _runner_up(bands, reference)
        if other is not None:
            ax.step(grid, bands[other][0], where="post", color="0.4", lw=1.2, ls="--",
                    alpha=0.8, label=f"{other} median")
        ax.axhline(0.0, color="black", lw=0.8)
        ends = methods[name]["cost_to_best"]
        to_best = median(ends)
        text = [f"best at end: {sum(c is not None for c in ends)}/{len(ends)} seeds",
                "median cost to best: " + ("never" if to_best is None else f"{to_best:.3g}")]
        if other is not None:
            text.append(f"dashed: {other} median")
        ax.text(0.97, 0.95, "\n".join(text), transform=ax.transAxes, ha="right", va="top",
                fontsize=8, bbox={"boxstyle": "round", "fc": "white", "ec": "0.8", "alpha": 0.9})
        ax.set_title(name + (" (reference)" if name == reference else ""), fontsize=10,
                     color=colour, fontweight="bold" if name == reference else "normal")
        ax.set_ylim(-0.03 * top, 1.05 * top)
        ax.set_xlim(0, summary["budget"])
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.grid(True, alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.set_axis_off()
    handles = [Patch(color="0.6", alpha=0.5, label="interquartile band (25-75% of seeds)"),
               Line2D([], [], color="0.2", lw=2.2, label="median over seeds (the panel's policy)"),
               Line2D([], [], color="0.4", lw=1.2, ls="--",
                      label=f"median of {reference} (in its own panel: the next best policy)")]
    axes.flat[len(names)].legend(handles=handles, loc="center", fontsize=8, frameon=False)
    unit = f"{summary['objective']} units"
    fig.supxlabel(f"cost spent (target-rung runs; 1 unit = {summary['cost_unit']:.4g} in the "
                  "table's cost units)", fontsize=9)
    fig.supylabel(f"regret: best - recommended ({unit}; 0 = the best)", fontsize=9)
    where = f" on {problem}" if problem else ""
    fig.suptitle(f"Replay{where}: regret of {summary['objective']} ({summary['direction']}, "
                 f"{_better(summary)} is better; best {summary['best_value']:.6g})\n"
                 f"median and interquartile band over {_seeds(summary)} seeds per policy, "
                 f"budget {summary['budget']:g} target-rung runs",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _runner_up(bands: dict[str, tuple[np.ndarray, ...]], reference: str) -> str | None:
    """The policy drawn for comparison in the reference's own panel: the next best."""
    others = [n for n in bands if n != reference and np.isfinite(bands[n][0]).any()]
    if not others:
        return None
    return min(others, key=lambda n: float(np.nanmean(bands[n][0])))


def plot_regret_vs_cost(summary: dict[str, Any], path: str | Path, *,
                        problem: str | None = None) -> Path:
    """Write :func:`regret_figure` to ``path`` (atomically)."""
    fig = regret_figure(summary, problem=problem)
    out = atomic_write(Path(path), lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return out


# --- summary.md --------------------------------------------------------------------------------


def _cell(v: Any) -> str:
    if v is None:
        return "never"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def markdown_table(summary: dict[str, Any]) -> str:
    """The medians per policy (``summary_rows``) as a Markdown table; "" without policies."""
    rows = summary_rows(summary)
    if not rows:
        return ""
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(r[h]) for h in headers) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def replay_command_line(table: str | Path, objective: str, *, minimize: bool, methods: str,
                        seeds: int, budget: float, out: str | Path) -> str:
    """The ``admire replay`` command that reproduces a summary (quoted for a POSIX shell)."""
    parts = ["admire", "replay", str(table), "--objective", objective,
             *(["--minimize"] if minimize else []), "--methods", methods, "--seeds", str(seeds),
             "--budget", f"{budget:g}", "--out", str(out)]
    return " ".join(shlex.quote(p) for p in parts)


def column_legend(rungs: Sequence[str]) -> list[str]:
    """What each column of :func:`markdown_table` means."""
    return [
        "- **method**: the policy, as given to `--methods`.",
        "- **cost_to_best**: the cost from which the recommendation is the best mixture in the "
        "table and stays so until the budget is spent.",
        "- **best at end**: seeds whose last recommendation is the best mixture / seeds.",
        "- **first_best**: the cost at which the recommendation was the best mixture for the "
        "first time (it may leave it again later).",
        "- **regret@u**: best value minus the value of the mixture recommended after spending "
        "u units, in the objective's direction (always >= 0; 0 = the best mixture).",
        "- **picks/rung**: mean number of runs bought per rung over seeds, cheapest first, "
        f"target last ({' / '.join(rungs)}).",
        "- **s/seed**: median wall seconds to replay one seed.",
        "",
        "Every column but *best at end* and *picks/rung* is a median over seeds. Costs are in "
        "target-rung runs (one unit = the mean cost of one target-rung run in the table), "
        "counting every run bought at any rung. **never**: not reached in more than half of "
        "the seeds (a seed that never reaches it counts as infinitely late); for regret@u, no "
        "recommendation yet by u units in more than half of the seeds.",
    ]


def summary_markdown(summary: dict[str, Any], *, command: str | None = None,
                     problem: str | None = None) -> str:
    """``summary.md``: a header (problem, objective, best, budget, seeds, command), the table
    and a legend of its columns."""
    seeds = _seeds(summary)
    title = f"# Replay on {problem}" if problem else "# Replay"
    lines = [
        title, "",
        f"- objective: **{summary['objective']}**, {summary['direction']} "
        f"({_better(summary)} is better); best value in the table "
        f"**{summary['best_value']:.6g}**",
        f"- budget: {summary['budget']:g} target-rung runs per seed (1 unit = "
        f"{summary['cost_unit']:.4g} in the table's cost units); rungs "
        f"{' < '.join(summary.get('rungs', []))}",
        f"- seeds: {seeds} per policy (0..{seeds - 1}), the same seeds for every policy",
        f"- policies: {', '.join(summary['methods'])}",
    ]
    if command:
        lines.append(f"- produced by: `{command}`")
    lines += ["", markdown_table(summary).rstrip(), "", "## Columns", "",
              *column_legend(summary.get("rungs", [])), "",
              "`regret_vs_cost.png` shows each policy's median regret and interquartile band "
              "against cost, one panel per policy."]
    return "\n".join(lines) + "\n"

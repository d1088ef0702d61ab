"""Plots and tables for replay summaries and studies (matplotlib, headless)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from admire.replay.summary import summary_rows  # noqa: E402

REGRET_FLOOR = 1e-5


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


def plot_regret_vs_cost(summary: dict[str, Any], path: str | Path) -> Path:
    """Median and interquartile band of regret against cost, per method, log-scale regret."""
    path = Path(path)
    grid = np.linspace(0, summary["budget"], 400)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, method in summary["methods"].items():
        values = np.maximum(regret_grid(method["curves"], grid), REGRET_FLOOR)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(values, axis=0)
            q1, q3 = np.nanpercentile(values, [25, 75], axis=0)
        line, = ax.step(grid, med, where="post", label=name)
        ax.fill_between(grid, q1, q3, step="post", alpha=0.2, color=line.get_color())
    ax.set_yscale("log")
    ax.set_xlabel(f"cost (target-rung runs; 1 unit = {summary['cost_unit']:.4g})")
    ax.set_ylabel(f"simple regret of {summary['objective']} (floor {REGRET_FLOOR:g})")
    seeds = len(next(iter(summary["methods"].values()))["curves"])
    ax.set_title(f"Replay: median and IQR over {seeds} seeds")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def markdown_table(summary: dict[str, Any]) -> str:
    rows = summary_rows(summary)
    if not rows:
        return ""
    headers = list(rows[0])

    def cell(v: Any) -> str:
        if v is None:
            return "never"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(r[h]) for h in headers) + " |" for r in rows]
    return "\n".join(lines) + "\n"

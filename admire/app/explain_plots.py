"""The PNGs of ``admire explain``: effects with interval whiskers, the interaction heatmap,
predicted vs actual, learned vs observed rung correlation, and the budget by rung. Each has a
title, units and a legend so it reads alone."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from admire.app.explain import Explanation  # noqa: E402
from admire.io import atomic_write  # noqa: E402

PLOTS = ("effects.png", "interactions.png", "predicted_vs_actual.png", "rung_correlation.png",
         "budget.png")
VERDICT_COLOURS = {"helps": "tab:green", "hurts": "tab:red", "unclear": "tab:gray"}


def _title(result: Explanation, what: str) -> str:
    h = result.header
    return f"{what}: {h['objective']} ({h['direction']}) at {h['rung']}"


def effects_figure(result: Explanation) -> Figure:
    rows = sorted(result.effects, key=lambda r: r["average"]["mean"])
    k = len(rows)
    fig, axes = plt.subplots(1, 2, figsize=(12, 1.2 + 0.32 * k), sharey=True)
    y = np.arange(k)
    for ax, key, label in zip(axes, ("at_recommendation", "average"),
                              ("around the recommendation", "average over the simplex"),
                              strict=True):
        for i, r in enumerate(rows):
            e = r[key]
            ax.errorbar(e["mean"], i, xerr=[[e["mean"] - e["lower90"]], [e["upper90"] - e["mean"]]],
                        fmt="o", color=VERDICT_COLOURS[e["verdict"]], capsize=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.set_title(label)
        ax.set_xlabel("objective change per +0.1 weight\n(mean, 90% interval)")
    axes[0].set_yticks(y, [r["domain"] for r in rows])
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=v)
               for v, c in VERDICT_COLOURS.items()]
    axes[1].legend(handles=handles, loc="lower right", fontsize=8)
    fig.suptitle(_title(result, "Per-domain effects"))
    fig.tight_layout()
    return fig


def interactions_figure(result: Explanation) -> Figure:
    inter = result.interactions
    mean = np.asarray(inter["mean"], dtype=float)
    k = len(inter["domains"])
    fig, ax = plt.subplots(figsize=(4 + 0.4 * k, 3 + 0.4 * k), layout="constrained")
    bound = float(np.abs(mean).max()) or 1.0
    image = ax.imshow(mean, cmap="RdBu_r", vmin=-bound, vmax=bound)
    clear = np.asarray(inter["clear"], dtype=bool)
    for i, j in zip(*np.nonzero(clear), strict=True):
        ax.text(j, i, "*", ha="center", va="center", fontsize=10)
    ax.set_xticks(range(k), inter["domains"], rotation=90)
    ax.set_yticks(range(k), inter["domains"])
    fig.colorbar(image, ax=ax, shrink=0.8,
                 label="change of d's effect per +0.1 of e\n(* = 90% interval excludes 0)")
    fig.suptitle(_title(result, "Pairwise interactions (average over the simplex)"))
    return fig


def predicted_figure(result: Explanation) -> Figure:
    points = result.cv["points"]
    fig, ax = plt.subplots(figsize=(6, 5.5))
    if points:
        actual = np.array([p["actual"] for p in points])
        pred = np.array([p["predicted"] for p in points])
        err = [pred - np.array([p["lower90"] for p in points]),
               np.array([p["upper90"] for p in points]) - pred]
        ax.errorbar(actual, pred, yerr=err, fmt="o", ms=4, alpha=0.7, capsize=2,
                    label="leave-one-mixture-out prediction (90% interval)")
        lo, hi = min(actual.min(), pred.min()), max(actual.max(), pred.max())
        ax.plot([lo, hi], [lo, hi], color="black", lw=1, label="y = x")
    h, cv = result.header, result.cv
    ax.set_xlabel(f"actual {h['objective']}")
    ax.set_ylabel(f"predicted {h['objective']}")
    ax.set_title(_title(result, "Predicted vs actual") +
                 f"\nR² {cv['r2']:.2f}, Spearman {cv['spearman']:.2f}, "
                 f"coverage {cv['coverage90']:.0%}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def correlation_figure(result: Explanation) -> Figure:
    corr = result.rung_correlation
    pairs = corr["observed"]
    fig, ax = plt.subplots(figsize=(max(6, 2.4 * len(pairs) + 1), 4.5))
    x = np.arange(len(pairs))
    learned = [np.nan if corr["learned"] is None else
               corr["learned"][corr["rungs"].index(p["rung_a"])][corr["rungs"].index(p["rung_b"])]
               for p in pairs]
    observed = [np.nan if p["spearman"] is None else p["spearman"] for p in pairs]
    ax.bar(x - 0.2, learned, 0.4, label="learned (ICM task correlation)")
    ax.bar(x + 0.2, observed, 0.4, label="observed Spearman (mixtures run at both)")
    ax.set_xticks(x, [f"{p['rung_a']}\nvs {p['rung_b']}\n(n={p['n_mixtures']} mixtures)"
                      for p in pairs])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylim(-1, 1)
    ax.set_ylabel("correlation")
    ax.set_title(_title(result, "Rung-to-rung correlation"))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def budget_figure(result: Explanation) -> Figure:
    b = result.budget
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    rungs = [r["rung"] for r in b["per_rung"]]
    bars = left.bar(rungs, [r["cost"] for r in b["per_rung"]], color="tab:blue")
    for bar, r in zip(bars, b["per_rung"], strict=True):
        left.annotate(f"{r['runs']} runs", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                      ha="center", va="bottom", fontsize=8)
    left.set_ylabel("total cost (table units)")
    left.set_xlabel("rung")
    left.set_title("cost per rung")
    for rung, curve in b["cumulative"].items():
        right.plot(np.arange(1, len(curve) + 1), curve, label=rung)
    right.set_xlabel(f"runs, in {b['order']}")
    right.set_ylabel("cumulative cost (table units)")
    right.set_title("cumulative cost by rung")
    right.legend(fontsize=8, title="rung")
    fig.suptitle(_title(result, "How the budget was spent"))
    fig.tight_layout()
    return fig


def _save(fig: Figure, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def write_plots(result: Explanation, out: Path) -> list[Path]:
    figures = (effects_figure, interactions_figure, predicted_figure, correlation_figure,
               budget_figure)
    return [_save(make(result), out / name) for make, name in zip(figures, PLOTS, strict=True)]

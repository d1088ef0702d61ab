"""Multi-objective replay of ADMIRE IFT Runs: mobo vs single-fidelity mobo vs random.

Objectives avg_id and avg_ood (both maximise), same seeds for every method. Score: hypervolume
regret of the recommended Pareto set's true target values (and, as a second column, of every
mixture evaluated at the target) against cumulative cost, reference point = the worst value of
each objective over the table's 76 target mixtures (admire.replay.mo).

Writes bench/results/mo_replay.{json,md,png}.
Run: python bench/mo_replay.py [--seeds 10] [--budget 10]
     [--methods mobo,mobo:screen_share=0,random]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import wilcoxon  # noqa: E402

from admire.bo.policies.registry import parse_policy, split_specs  # noqa: E402
from admire.replay.mo import MOReplayProblem, MOSeedResult, regret_at, replay_mo_one  # noqa: E402
from admire.schema import runs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results"
TABLE = ROOT / "runs_dataset" / "admire_ift_runs.parquet"
OBJECTIVES = (("avg_id", False), ("avg_ood", False))
LABELS = {"mobo": "mobo (multi-fidelity)", "mobo:screen_share=0": "mobo single-fidelity",
          "random": "random (target)"}


def budgets(total: float) -> list[float]:
    return [b for b in (2.5, 5.0, 7.5, 10.0, 15.0, 20.0) if b <= total]


def quartiles(values: list[float]) -> list[float]:
    return [float(np.percentile(values, q)) for q in (25, 50, 75)]


def summarise(results: dict[str, list[MOSeedResult]], best: float, total: float
              ) -> dict[str, object]:
    table: dict[str, object] = {}
    for method, seeds in results.items():
        rows = {}
        for b in budgets(total):
            picked = [regret_at(r.curve, b, 1) for r in seeds]
            evaluated = [regret_at(r.curve, b, 2) for r in seeds]
            rows[f"{b:g}"] = {
                "picked_q25_median_q75": quartiles([best if v is None else v for v in picked]),
                "evaluated_q25_median_q75": quartiles([best if v is None else v
                                                       for v in evaluated]),
                "n_none": sum(v is None for v in picked),
                "set_size_median": float(np.median([_v(regret_at(r.curve, b, 3), 0)
                                                    for r in seeds]))}
        table[method] = rows
    return table


def paired(results: dict[str, list[MOSeedResult]], best: float, total: float
           ) -> list[dict[str, object]]:
    """mobo against each other method, seed by seed (same seeds), at each budget."""
    rows = []
    first = next(iter(results))
    for other in list(results)[1:]:
        for b in budgets(total):
            a = np.array([_v(regret_at(r.curve, b, 1), best) for r in results[first]])
            c = np.array([_v(regret_at(r.curve, b, 1), best) for r in results[other]])
            diff = a - c
            p = (float(wilcoxon(a, c).pvalue) if np.any(diff != 0) else 1.0)
            rows.append({"method": first, "versus": other, "budget": b,
                         "wins": int((diff < 0).sum()), "losses": int((diff > 0).sum()),
                         "ties": int((diff == 0).sum()),
                         "median_difference": float(np.median(diff)), "wilcoxon_p": p})
    return rows


def _v(value: float | None, best: float) -> float:
    return best if value is None else value  # no recommendation yet: nothing covered


def plot(results: dict[str, list[MOSeedResult]], best: float, total: float, path: Path) -> None:
    grid = np.linspace(0, total, 81)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, column, title in ((axes[0], 1, "the recommended Pareto set"),
                              (axes[1], 2, "every evaluated target mixture")):
        for method, seeds in results.items():
            curves = np.array([[_v(regret_at(r.curve, c, column), best) / best for c in grid]
                               for r in seeds])
            q25, med, q75 = np.percentile(curves, [25, 50, 75], axis=0)
            line = ax.plot(grid, med, label=LABELS.get(method, method))[0]
            ax.fill_between(grid, q25, q75, color=line.get_color(), alpha=0.2)
        ax.set_title(f"HV regret of {title}")
        ax.set_xlabel("cumulative cost (target-run units)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("HV regret / HV(true front)")
    axes[0].legend()
    fig.suptitle(f"ADMIRE IFT Runs, avg_id x avg_ood: median and IQR over "
                 f"{len(next(iter(results.values())))} seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(summary: dict[str, object], best: float) -> str:
    lines = ["# Multi-objective replay of ADMIRE IFT Runs (avg_id x avg_ood, both maximise)",
             "", f"Command: `{summary['command']}`; wall time {summary['wall_seconds']} s on "
             "1 worker (shared 2-core machine).", "",
             f"HV(true front) = {best:.4g} (reference point = worst of each objective over the "
             f"{summary['n_target_mixtures']} target mixtures, true front of "
             f"{summary['true_front_size']} mixtures). Regret as a share of it; median [IQR] "
             "over seeds. *picked*: true values of the recommended Pareto set; *evaluated*: "
             "every mixture run at the target; *set size*: median size of the recommended "
             "set (a bigger set covers more hypervolume).", "",
             "| method | budget | picked HV regret | evaluated HV regret | set size |",
             "|---|---|---|---|---|"]
    for method, rows in summary["table"].items():  # type: ignore[union-attr]
        for b, row in rows.items():
            p = [v / best for v in row["picked_q25_median_q75"]]
            e = [v / best for v in row["evaluated_q25_median_q75"]]
            lines.append(f"| {method} | {b} | {p[1]:.3f} [{p[0]:.3f}, {p[2]:.3f}] | "
                         f"{e[1]:.3f} [{e[0]:.3f}, {e[2]:.3f}] | {row['set_size_median']:g} |")
    lines += ["", "Paired comparison on the same seeds (picked HV regret; win = lower regret; "
              "Wilcoxon signed-rank p):", "",
              "| method | versus | budget | wins/losses/ties | median difference / HV | p |",
              "|---|---|---|---|---|---|"]
    for row in summary["paired"]:  # type: ignore[union-attr]
        lines.append(f"| {row['method']} | {row['versus']} | {row['budget']:g} | "
                     f"{row['wins']}/{row['losses']}/{row['ties']} | "
                     f"{row['median_difference'] / best:+.3f} | {row['wilcoxon_p']:.3g} |")
    lines += ["", "Picks per rung (0.5B, 3B, 7B), median over seeds: " + ", ".join(
        f"{m}: {v}" for m, v in summary["picks_median"].items()),  # type: ignore[union-attr]
              "Seconds per seed, median: " + ", ".join(
        f"{m}: {v:.1f}" for m, v in summary["seconds_median"].items())]  # type: ignore[union-attr]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=10.0)
    parser.add_argument("--methods", default="mobo,mobo:screen_share=0,random")
    parser.add_argument("--name", default="mo_replay")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    problem = MOReplayProblem.from_table(runs.read_runs(TABLE), OBJECTIVES)
    best = problem.best_hv
    results: dict[str, list[MOSeedResult]] = {}
    for text in split_specs(args.methods):
        spec = parse_policy(text)
        for seed in range(args.seeds):
            result = replay_mo_one(problem, spec, seed, args.budget)
            results.setdefault(text, []).append(result)
            print(f"[{time.time() - start:6.0f}s] {text} seed {seed}: picks "
                  f"{result.picks_per_rung}, final regret {result.curve[-1][1] / best:.3f}, "
                  f"{result.seconds:.1f}s", flush=True)
    oriented = problem.spec.oriented_objectives(problem.truth)
    from admire.bo.pareto import non_dominated

    summary = {
        "command": f"python bench/mo_replay.py --seeds {args.seeds} --budget {args.budget:g} "
                   f"--methods {args.methods}",
        "objectives": [m for m, _ in OBJECTIVES], "budget": args.budget,
        "best_hv": best, "ref_point": problem.ref_point.tolist(),
        "n_target_mixtures": len(problem.truth),
        "true_front_size": int(non_dominated(oriented).sum()),
        "table": summarise(results, best, args.budget),
        "paired": paired(results, best, args.budget),
        "picks_median": {m: np.median([r.picks_per_rung for r in rs], axis=0).tolist()
                         for m, rs in results.items()},
        "seconds_median": {m: float(np.median([r.seconds for r in rs]))
                           for m, rs in results.items()},
        "seeds": {m: [r.to_dict() for r in rs] for m, rs in results.items()},
    }
    summary["wall_seconds"] = round(time.time() - start, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(summary, indent=1))
    (OUT / f"{args.name}.md").write_text(markdown(summary, best))
    plot(results, best, args.budget, OUT / f"{args.name}.png")
    print(markdown(summary, best))


if __name__ == "__main__":
    main()

"""The benchmark suite admire is judged on: every policy on every problem, on the same seeds.

Problems (``admire.problems``): ADMIRE IFT Runs with seven objectives, the Olmix swarm (K = 64,
one rung), and ten synthetic presets (K 3..100, rung correlation 0.3..0.95, 2..5 rungs, cost
ratios 3:1..1000:1, interior and face optima, pools of 1,000+ rows). Each problem is replayed:
a Study over its runs table, a recorded-runs evaluator, a policy, the one loop.

Per problem and policy: median cost_to_best, best-at-end count, median regret at 1/3/5/10 units,
area under the regret curve (normalised), wall seconds per seed. The verdict per problem: is the
default best, or within noise of the best (a one-sided paired Wilcoxon test over seeds, p >=
0.05), at 3 and 10 units; does it lose to regmix, olmix or random on best-at-end.

    python bench/suite.py                        # everything, 10 seeds (hours on 2 cores)
    python bench/suite.py --small --out /tmp/s   # the CI version: 3 problems, 2 seeds

Writes OUT/suite.json, OUT/suite.md and OUT/suite.png (OUT = bench/results by default).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
DEFAULT = "mfbo"  # admire's default policy, whatever it is
POLICIES = ("mfbo", "kg", "sfbo", "random", "regmix", "olmix", "hyperband")
BASELINES = ("regmix", "olmix", "random")  # the default must never lose to these at the end
CHECKPOINTS = (3, 10)
SMALL = {"problems": ("admire-ift/avg_id+ood", "synthetic/k3-easy/s0",
                      "synthetic/two-rung-k10-corr0.3-ratio3/s0"),
         "policies": ("mfbo", "random", "regmix"), "seeds": 2, "budget": 3.0}


# --- problems, built once per process -----------------------------------------------------------

_PROBLEMS: dict[str, Any] = {}


def all_problems() -> dict[str, Any]:
    """Every problem of the suite by name (the tables are built here, once per process)."""
    if not _PROBLEMS:
        from admire.problems import admire_problems, olmix_problem, synthetic_problems

        for problem in [*admire_problems(), olmix_problem(), *synthetic_problems()]:
            _PROBLEMS[problem.name] = problem
    return _PROBLEMS


_REPLAYS: dict[str, Any] = {}


def replay_problem(name: str) -> Any:
    from admire.replay.problem import ReplayProblem

    if name not in _REPLAYS:
        problem = all_problems()[name]
        _REPLAYS[name] = ReplayProblem.from_table(problem.table, problem.objective,
                                                  problem.minimize)
    return _REPLAYS[name]


def run_task(task: tuple[str, str, int, float]) -> dict[str, Any]:
    """One policy, one seed, one problem (in a worker process)."""
    import torch

    torch.set_num_threads(1)
    from admire.bo.policies.registry import parse_policy
    from admire.replay.runner import replay_one

    name, spec, seed, budget = task
    result = replay_one(replay_problem(name), parse_policy(spec), seed, budget)
    return {"problem": name, "policy": spec, "seed": seed, "budget": budget,
            "curve": result.curve,
            "picks_per_rung": result.picks_per_rung, "seconds": result.seconds,
            "stop_reason": result.stop_reason}


# --- what the results say -----------------------------------------------------------------------

def area_under_regret(curve: Sequence[Sequence[float]], budget: float, scale: float) -> float:
    """Mean regret over [0, budget] (a step function; the first recommendation's regret before
    it), divided by ``scale``: 0 = the best from the start, 1 = a median mixture throughout."""
    if not curve:
        return math.nan
    costs = np.array([c for c, _ in curve] + [max(budget, curve[-1][0])])
    regrets = np.array([r for _, r in curve])
    area = regrets[0] * costs[0] + float(np.sum(regrets * np.diff(costs)))
    return area / budget / scale


def within_noise(default: Sequence[float], best: Sequence[float]) -> bool:
    """True unless a one-sided paired Wilcoxon test says the default is worse (p < 0.05)."""
    from scipy.stats import wilcoxon

    diff = np.asarray(default, dtype=float) - np.asarray(best, dtype=float)
    if np.all(diff <= 1e-12):
        return True
    try:
        return float(wilcoxon(diff, alternative="greater", zero_method="zsplit").pvalue) >= 0.05
    except ValueError:
        return True


def verdict(summary: dict[str, Any]) -> dict[str, Any]:
    """Where the default stands on one problem."""
    from admire.replay.summary import median

    methods = summary["methods"]
    out: dict[str, Any] = {}
    for point in CHECKPOINTS:
        key = f"{point:g}"
        if DEFAULT not in methods or key not in methods[DEFAULT]["regret_at"]:
            continue
        medians = {name: median([math.inf if v is None else v for v in m["regret_at"][key]])
                   for name, m in methods.items()}
        best = min(medians, key=lambda name: (medians[name], name != DEFAULT))
        mine = methods[DEFAULT]["regret_at"][key]
        fill = [math.inf if v is None else v for v in mine]
        theirs = [math.inf if v is None else v for v in methods[best]["regret_at"][key]]
        out[f"regret@{key}"] = {
            "best": best, "best_median": medians[best], "default_median": medians[DEFAULT],
            "status": "best" if best == DEFAULT else
            "within noise" if within_noise(fill, theirs) else "worse"}
    ends = {name: sum(v is not None for v in m["cost_to_best"]) for name, m in methods.items()}
    out["best_at_end"] = ends
    out["loses_at_end_to"] = [b for b in BASELINES if b in ends and DEFAULT in ends
                              and ends[b] > ends[DEFAULT]]
    return out


def summarise(rows: list[dict[str, Any]], budgets: dict[str, float]) -> dict[str, Any]:
    """Per problem: the replay summary (as ``admire replay`` writes it), AURC and a verdict."""
    from admire.replay.runner import SeedResult, summarize

    problems: dict[str, Any] = {}
    for name in dict.fromkeys(r["problem"] for r in rows):
        mine = [r for r in rows if r["problem"] == name]
        replay = replay_problem(name)
        results = [SeedResult(r["policy"], r["seed"], [tuple(p) for p in r["curve"]],
                              r["picks_per_rung"], r["seconds"], r["stop_reason"]) for r in mine]
        summary = summarize(results, replay, budgets[name], replay.recorded.metric)
        oriented = -replay.target_values if replay.minimize else replay.target_values
        scale = float(oriented.max() - np.median(oriented)) or 1.0
        for method in summary["methods"].values():
            method["aurc"] = [area_under_regret(c, budgets[name], scale)
                              for c in method["curves"]]
        summary["regret_scale"] = scale
        summary["verdict"] = verdict(summary)
        problems[name] = summary
    return problems


# --- reports ------------------------------------------------------------------------------------

def _or_inf(value: float | None) -> float:
    return math.inf if value is None else value


def across_suite(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per policy, over every problem: mean rank (1 = best; ties share the mean rank) of the
    median regret at each checkpoint and of the median AURC, and the number of problems where
    it ends on the best in the most seeds (ties count for each)."""
    from scipy.stats import rankdata

    from admire.replay.summary import median

    policies = list(report["policies"])
    ranks: dict[str, dict[str, list[float]]] = {p: {} for p in policies}
    wins = dict.fromkeys(policies, 0)
    for summary in report["problems"].values():
        methods = summary["methods"]
        here = [p for p in policies if p in methods]
        columns = {f"regret@{c:g}": [_or_inf(median(methods[p]["regret_at"].get(f"{c:g}", [])))
                                     for p in here] for c in CHECKPOINTS
                   if all(f"{c:g}" in methods[p]["regret_at"] for p in here)}
        columns["aurc"] = [float(np.median(methods[p]["aurc"])) for p in here]
        for key, values in columns.items():
            for p, r in zip(here, rankdata(values), strict=True):
                ranks[p].setdefault(key, []).append(float(r))
        ends = {p: sum(v is not None for v in methods[p]["cost_to_best"]) for p in here}
        for p in here:
            wins[p] += ends[p] == max(ends.values())
    return {p: {**{f"mean_rank_{k}": float(np.mean(v)) for k, v in ranks[p].items()},
                "problems_most_best_at_end": wins[p]} for p in policies}


def markdown(report: dict[str, Any]) -> str:
    from admire.app.replay_plots import markdown_table

    lines = ["# Benchmark suite", "",
             f"{report['seeds']} seeds per problem and policy (the same seeds for every "
             f"policy); default = `{DEFAULT}` ({report['default_policy']}). Costs in "
             "target-run units. `never` = not reached in more than half the seeds.", "",
             "## Verdicts", "",
             "| problem | regret@3: best | default | regret@10: best | default | "
             "best at end (default / regmix / olmix / random) | loses at end to |",
             "|---|---|---|---|---|---|---|"]
    for name, summary in report["problems"].items():
        v = summary["verdict"]
        cells = [name]
        for point in CHECKPOINTS:
            item = v.get(f"regret@{point}")
            cells += ([f"{item['best']} ({item['best_median']:.3g})",
                       f"{item['status']} ({item['default_median']:.3g})"] if item
                      else ["-", "-"])
        ends = v["best_at_end"]
        cells.append(" / ".join(str(ends.get(p, "-")) for p in (DEFAULT, *BASELINES)))
        cells.append(", ".join(v["loses_at_end_to"]) or "none")
        lines.append("| " + " | ".join(cells) + " |")
    table = across_suite(report)
    keys = list(next(iter(table.values())))
    lines += ["", f"## Across the suite ({len(report['problems'])} problems)", "",
              "| policy | " + " | ".join(k.replace("_", " ") for k in keys) + " |",
              "|---|" + "---|" * len(keys)]
    for policy, row in sorted(table.items(), key=lambda kv: kv[1].get("mean_rank_aurc", 0)):
        lines.append(f"| {policy} | " + " | ".join(f"{row[k]:.2f}" if isinstance(row[k], float)
                                                    else str(row[k]) for k in keys) + " |")
    for name, summary in report["problems"].items():
        lines += ["", f"## {name}", "",
                  f"budget {summary['budget']:g} target-run units; rungs "
                  f"{' < '.join(summary['rungs'])}; best {summary['best_value']:.6g} "
                  f"({summary['direction']}); AURC = mean regret over the budget / "
                  f"(best - median mixture) = {summary['regret_scale']:.3g}", "",
                  markdown_table(summary).rstrip()]
        aurc = {p: float(np.median(m["aurc"])) for p, m in summary["methods"].items()}
        lines.append("\nmedian AURC: " + ", ".join(f"{p} {a:.3f}" for p, a in aurc.items()))
    lines += ["", f"Command: `{report['command']}`; {report['wall_seconds']:.0f} s on "
              f"{report['machine']}."]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    """Small multiples: median normalised regret against cost, one panel per problem."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from admire.app.replay_plots import regret_grid

    names = list(report["problems"])
    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        summary = report["problems"][name]
        grid = np.linspace(0, summary["budget"], 200)
        for policy, method in summary["methods"].items():
            values = regret_grid(method["curves"], grid) / summary["regret_scale"]
            with np.errstate(all="ignore"):
                med = np.nanmedian(values, axis=0)
            ax.step(grid, med, where="post", label=policy, lw=2.2 if policy == DEFAULT else 1.1)
        ax.set_title(name, fontsize=8)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.set_axis_off()
    axes.flat[0].legend(fontsize=7)
    fig.supxlabel("cost (target-run units)")
    fig.supylabel("median regret / (best - median mixture)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- main ---------------------------------------------------------------------------------------

def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _task(row: dict[str, Any]) -> tuple[str, str, int, float]:
    return (row["problem"], row["policy"], int(row["seed"]), float(row["budget"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--problems", default="", help="comma-separated names (default: all)")
    parser.add_argument("--policies", default=",".join(POLICIES),
                        help="policy specs; ';' separates specs that hold commas")
    parser.add_argument("--budget", type=float, default=0.0, help="override every budget")
    parser.add_argument("--small", action="store_true", help="the CI version")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="suite")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the tables from OUT/NAME.rows.jsonl without running")
    parser.add_argument("--resume", action="store_true",
                        help="keep the seeds already in OUT/NAME.rows.jsonl")
    args = parser.parse_args()
    start = time.time()
    problems = args.problems.split(",") if args.problems else list(all_problems())
    policies = args.policies.split(";") if ";" in args.policies else args.policies.split(",")
    seeds = args.seeds
    if args.small:
        problems, policies, seeds = list(SMALL["problems"]), list(SMALL["policies"]), \
            SMALL["seeds"]
    unknown = [p for p in problems if p not in all_problems()]
    if unknown:
        raise SystemExit(f"unknown problems {unknown}; known: {list(all_problems())}")
    budgets = {p: (SMALL["budget"] if args.small else args.budget or all_problems()[p].budget)
               for p in problems}
    tasks = [(p, spec, seed, budgets[p]) for p in problems for spec in policies
             for seed in range(seeds)]
    # Every finished seed is appended to NAME.rows.jsonl; a rerun with --resume skips those.
    args.out.mkdir(parents=True, exist_ok=True)
    rows_path = args.out / f"{args.name}.rows.jsonl"
    rows = [row for row in _read_rows(rows_path) if _task(row) in set(tasks)] \
        if args.resume or args.report_only else []
    if args.report_only:
        tasks = [t for t in tasks if t in {_task(row) for row in rows}]
    elif not args.resume:
        rows_path.unlink(missing_ok=True)
    done = {_task(row) for row in rows}
    todo = [t for t in tasks if t not in done]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:
        futures = [pool.submit(run_task, t) for t in todo]
        for future in as_completed(futures):
            row = future.result()
            rows.append(row)
            with rows_path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            final = row["curve"][-1][1] if row["curve"] else math.nan
            print(f"[{time.time() - start:7.0f}s] {len(rows)}/{len(tasks)} {row['problem']} "
                  f"{row['policy']} seed {row['seed']}: final regret {final:.4g}, "
                  f"{row['seconds']:.1f}s", flush=True)
    from admire.bo.policies.registry import parse_policy

    report = {"seeds": seeds, "default_policy": parse_policy(DEFAULT).name,
              "policies": policies, "problems": summarise(rows, budgets),
              "wall_seconds": time.time() - start, "machine": platform.platform(),
              "command": "python bench/suite.py " + " ".join(sys.argv[1:])}
    report["across_suite"] = across_suite(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(report, indent=1))
    (args.out / f"{args.name}.md").write_text(markdown(report))
    plot(report, args.out / f"{args.name}.png")
    print(f"wrote {args.out / args.name}.json/.md/.png in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()

"""Reuse after domain updates: reuse vs warm start vs a study from scratch, replayed.

A synthetic truth is seen through a sequence of domain sets (admire/problems/reuse_scenarios.py:
coarse with two domains merged and one missing -> the merged one split -> the missing one
added). At the first stage a study runs from scratch; at every later stage three studies run on
that stage's pool with the same budget and seed:

* ``scratch``: the default policy (screen-confirm), no earlier runs;
* ``warm``: the default policy warm-started from the previous stage's study (its runs mapped
  into the new domains, a task per (study, rung) in the ICM);
* ``reuse``: the reuse policy on the same warm start (unaffected domains frozen at the previous
  best mixture's relative shares, only the affected ones searched).

warm and reuse each chain from their own previous-stage study. Reported per stage and method:
cost to reach the pool's best target mixture for good (cost_to_best, target-run units; never
reached counts as infinitely late in medians), cost to first recommend it, final regret. A
warm-started study recommends before its first run (from the earlier runs alone), so warm and
reuse curves start at cost 0; scratch's starts at its first run.

    PYTHONPATH=. python bench/reuse_replay.py --seeds 10 --budget 8

Variants that ask what limits the saving: ``--first-budget B`` gives the first (scratch) study
B target-run units, so the earlier runs know more; ``--chain all`` warm-starts each stage from
every earlier study of its chain (each with the composed mapping), not only the previous one;
``--mode continuous`` runs every study live on the synthetic truth instead of replaying the
stage's pool: a study may train any mixture (so ``reuse`` can search the subspace the earlier
best leaves open, which no pool row lies on), and regret is against the best the stage's
domains allow (admire/problems/reuse_scenarios.py: StageTruth).

``--table admire-ift`` replays the same updates on ADMIRE IFT Runs instead
(admire/problems/reuse_recorded.py: each stage a disjoint third of the recorded mixtures, two
same-kind domains merged then split, the zero-weight domain missing then added), maximising
``--objective`` (avg_id+ood by default); results go to reuse_replay_admire.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, get_args

import numpy as np
import torch

from admire.app.replay_plots import regret_grid
from admire.bo.policies.options import ReuseOptions
from admire.bo.policies.registry import policy_spec
from admire.problems.reuse_recorded import STAGES, admire_ift_scenario, merge_pair
from admire.problems.reuse_scenarios import Stage, StageTruth, split_add_scenario, split_add_truths
from admire.problems.synthetic import OBJECTIVE, SyntheticSpec
from admire.replay.problem import ReplayProblem
from admire.replay.summary import cost_to_best, cost_to_first_best, median
from admire.schema import runs
from admire.schema.warm_start import WarmStartConfig
from admire.study import Study
from admire.study.loop import Event, run, run_function

RESULTS = Path(__file__).parent / "results"
METHODS = ("scratch", "warm", "reuse")
# Options of the warm-started arms a run may vary (reuse's options hold screen-confirm's), each
# with its file-stem suffix and its note in the report's title; only values other than the
# policies' defaults are passed, flagged in the command and named in the files.
ARM_LABELS: dict[str, tuple[Callable[[Any], str], Callable[[Any], str]]] = {
    "prior_screens": (lambda v: v.replace("-", "_"), lambda v: f"warm and reuse screen {v}"),
    "focus": (lambda v: f"focus_{v}", lambda v: f"reuse keeps a {v} share"),
    "focus_share": (lambda v: f"share{round(100 * v)}",
                    lambda v: f"reuse keeps {v:g} of the target mixtures"),
    "recommend_prior": (lambda v: "prior_pick" if v else "no_prior_pick",
                        lambda v: "the earlier runs' pick " + ("stays" if v else "is not")
                        + " a recommendation candidate"),
}
REUSE_ONLY = ("focus", "focus_share")  # options the warm (screen-confirm) arm does not have
TABLES = ("synthetic", "admire-ift")


def run_stage(stage: Stage, method: str, seed: int, budget: float,
              sources: list[tuple[Path, dict[str, Any]]], objective: str = OBJECTIVE,
              minimize: bool = True, arms: Mapping[str, Any] | None = None,
              truth: StageTruth | None = None) -> dict[str, Any]:
    """One study at ``stage``; returns its curve and its runs table. ``sources``: the earlier
    studies' runs tables it warm-starts from, each with its domain mapping (ignored by
    scratch); ``arms``: the warm and reuse arms' options (see :data:`ARM_LABELS`); ``truth``:
    run it live on the stage's truth (any mixture, regret against the stage's optimum) instead
    of replaying the stage's pool."""
    start = time.perf_counter()
    problem = ReplayProblem.from_table(stage.table, objective, minimize=minimize)
    options = {} if method == "scratch" else {
        name: value for name, value in (arms or {}).items()
        if method == "reuse" or name not in REUSE_ONLY}
    spec = policy_spec("reuse" if method == "reuse" else "screen-confirm", options)
    config = problem.config(spec, seed=seed, budget=budget, name=f"{stage.name}-{method}")
    if truth is not None:
        config = replace(config, mode="continuous", max_trials=None)
    if sources and method != "scratch":
        config = replace(config, warm_start=tuple(
            WarmStartConfig(source=str(path), **mapping) for path, mapping in sources))
    study = Study(config, pool=None if truth is not None else problem.recorded.pool)
    curve: list[tuple[float, float]] = []

    def record() -> None:
        weights = study.recommend(interval=False).weights(study.space.domains)
        curve.append((study.spent(), truth.regret(np.asarray(weights)) if truth is not None
                      else problem.regret(problem.target_index(weights))))

    def score(event: Event) -> None:
        if event.kind == "recorded" and event.failure is None:
            record()

    if study.prior is not None:
        record()  # a warm-started study's answer before its first run, at no new cost
    if truth is None:
        run(study, problem.evaluator(), on_event=score)
    else:
        rng = np.random.default_rng([seed, STAGES.index(stage.name), METHODS.index(method)])

        def train(mixture: Mapping[str, float], rung: str) -> tuple[dict[str, float], float]:
            return truth.evaluate(np.array([mixture[d] for d in stage.domains]), rung, rng)

        run_function(study, train, on_event=score)
    return {"curve": curve, "runs": study.runs, "seconds": time.perf_counter() - start,
            "n_prior": 0 if study.prior is None else study.prior.n,
            "spread": truth.scale if truth is not None else regret_scale(problem, minimize)}


def regret_scale(problem: ReplayProblem, minimize: bool) -> float:
    """The pool's best target value minus its median one: what a regret is measured against."""
    oriented = -problem.target_values if minimize else problem.target_values
    return float(oriented.max() - np.median(oriented))


def backfill_spread(summary: dict[str, Any]) -> None:
    """Regret scales for a synthetic run saved before they were recorded: the stages are
    regenerated from the same spec and seeds (the same tables, so the same scales)."""
    if summary.get("table", "synthetic") != "synthetic":
        return
    spec = SyntheticSpec(k=summary["k"], rows_per_rung=tuple(summary["rows_per_rung"]))
    scales: dict[int, dict[str, float]] = {}
    for stage_name, methods in summary["stages"].items():
        for m in methods.values():
            if all(v is not None for v in m.get("spread", [None])):
                continue
            for seed in m["seeds"]:
                if seed not in scales:
                    scales[seed] = {stage.name: regret_scale(ReplayProblem.from_table(
                        stage.table, OBJECTIVE, minimize=True), True)
                        for stage in split_add_scenario(spec, seed)}
            m["spread"] = [scales[seed][stage_name] for seed in m["seeds"]]


def compose(mappings: list[dict[str, Any]]) -> dict[str, Any]:
    """One warm-start mapping for several consecutive updates (a split, then an add): their
    fields joined. The scenarios' later updates never touch a domain an earlier one made."""
    out: dict[str, Any] = {}
    for mapping in mappings:
        for field, value in mapping.items():
            if isinstance(value, dict):
                out[field] = {**out.get(field, {}), **value}
            else:
                out[field] = [*out.get(field, []), *value]
    return out


def run_seed(stages: list[Stage], seed: int, budget: float, tmp: Path,
             objective: str = OBJECTIVE, minimize: bool = True,
             arms: Mapping[str, Any] | None = None, first_budget: float | None = None,
             chain: str = "last", truths: list[StageTruth] | None = None
             ) -> list[dict[str, Any]]:
    """The scratch study at the first stage (``first_budget``, default ``budget``), then every
    method at each later stage. ``chain``: warm and reuse start from their own previous
    stage's study ("last") or from every earlier study of their chain ("all"). ``truths``
    (one per stage): run the studies live on them instead of replaying the pools."""
    out = []
    truth = truths or [None] * len(stages)
    first = run_stage(stages[0], "scratch", seed, budget if first_budget is None
                      else first_budget, [], objective, minimize, truth=truth[0])
    out.append({"stage": stages[0].name, "method": "scratch", "seed": seed, **first})
    start = tmp / f"s{seed}-0.parquet"
    runs.write_runs(first["runs"], start)
    history: dict[str, list[Path]] = {"warm": [start], "reuse": [start]}
    for j, stage in enumerate(stages[1:], start=1):
        for method in METHODS:
            earlier = history.get(method, [])
            if chain == "last":
                earlier = earlier[-1:]
            sources = [(path, compose([s.mapping or {} for s in stages[j - len(earlier) + i + 1:
                                                                      j + 1]]))
                       for i, path in enumerate(earlier)]
            result = run_stage(stage, method, seed, budget, sources, objective, minimize, arms,
                               truth[j])
            out.append({"stage": stage.name, "method": method, "seed": seed, **result})
            if truths:  # what the update is worth: the previous stage's best, carried over
                previous = truths[j - 1]
                out[-1]["carried_regret"] = truths[j].fine_regret(
                    previous.fine(previous.optimum_weights))
            if method in history:
                history[method].append(tmp / f"s{seed}-{j}-{method}.parquet")
                runs.write_runs(result["runs"], history[method][-1])
    return out


def summarize(results: list[dict[str, Any]], budget: float) -> dict[str, Any]:
    stages: dict[str, Any] = {}
    for r in results:
        entry = stages.setdefault(r["stage"], {}).setdefault(r["method"], {
            "seeds": [], "cost_to_best": [], "cost_to_first_best": [], "final_regret": [],
            "seconds": [], "n_prior": [], "spread": [], "curves": [], "carried_regret": []})
        entry["seeds"].append(r["seed"])
        entry["cost_to_best"].append(cost_to_best(r["curve"]))
        entry["cost_to_first_best"].append(cost_to_first_best(r["curve"]))
        entry["final_regret"].append(r["curve"][-1][1] if r["curve"] else None)
        entry["seconds"].append(round(r["seconds"], 2))
        entry["n_prior"].append(r["n_prior"])
        entry["spread"].append(r.get("spread"))
        if "carried_regret" in r:
            entry["carried_regret"].append(r["carried_regret"])
        entry["curves"].append([[round(c, 5), g] for c, g in r["curve"]])
    for methods in stages.values():
        for m in methods.values():
            m["median_cost_to_best"] = median(m["cost_to_best"])
            m["reached_best"] = sum(v is not None for v in m["cost_to_best"])
            m["median_final_regret"] = float(np.median(m["final_regret"]))
            m["mean_final_regret"] = float(np.mean(m["final_regret"]))
        scratch = methods.get("scratch", {}).get("median_cost_to_best")
        for m in methods.values():
            mine = m["median_cost_to_best"]
            m["saving_vs_scratch"] = (None if scratch is None or mine is None
                                      else 1.0 - mine / scratch)
    return {"budget": budget, "stages": stages}


def markdown(summary: dict[str, Any], command: str, wall: float,
             title: str = "synthetic truth", workers: int = 1) -> str:
    cores = "1 core" if workers == 1 else f"{workers} worker processes"
    continuous = summary.get("mode") == "continuous"
    kind = "live" if continuous else "replay"
    lines = [f"# Reuse after domain updates ({kind}, {title})", "",
             f"`{command}` - wall {wall / 60:.1f} min on {cores}.", ""]
    if continuous:
        lines += carried(summary)
    else:
        lines += best_table(summary)
    lines += at_scratch_regret(summary)
    lines += at_scratch_median(summary)
    lines += within_tolerance(summary)
    spreads = {stage: [v for v in next(iter(methods.values())).get("spread", []) if v is not None]
               for stage, methods in summary["stages"].items()}
    if all(spreads.values()):
        lines += ["", f"regret scale: {scale_words(summary)}, median over seeds: " + ", ".join(
                      f"{stage} {np.median(v):.4f}" for stage, v in spreads.items()) + "."]
    return "\n".join(lines) + "\n"


def best_table(summary: dict[str, Any]) -> list[str]:
    """Replay: when each method's recommendation is the pool's best target mixture."""
    lines = ["cost in target-run units; cost_to_best: from when the recommendation is the "
             "pool's best target mixture to the end (median over seeds, never reached = "
             "infinitely late); saving: 1 - median cost_to_best / scratch's.", "",
             "| stage | method | median cost_to_best | reached best | saving vs scratch | "
             "median first best | median final regret | mean final regret | s/study |",
             "|---|---|---|---|---|---|---|---|---|"]
    for stage, methods in summary["stages"].items():
        for name, m in methods.items():
            def fmt(v: float | None) -> str:
                return "never" if v is None else f"{v:.2f}"
            saving = m["saving_vs_scratch"]
            lines.append(
                f"| {stage} | {name} | {fmt(m['median_cost_to_best'])} | "
                f"{m['reached_best']}/{len(m['seeds'])} | "
                f"{'-' if saving is None else f'{100 * saving:.0f}%'} | "
                f"{fmt(median(m['cost_to_first_best']))} | {m['median_final_regret']:.4f} | "
                f"{m['mean_final_regret']:.4f} | {np.median(m['seconds']):.1f} |")
    lines += ["", "paired with scratch (same seed and pool; never = infinitely late): "
              + "; ".join(paired(summary)) + "."]
    return lines


def carried(summary: dict[str, Any]) -> list[str]:
    """Live: each method's final regret, and what the update was worth (the regret of the
    previous stage's best mixture carried over, against this stage's best)."""
    lines = ["cost in target-run units; regret: the recommendation's noiseless target value "
             "minus the best the stage's domains allow.", "",
             "| stage | method | median final regret | mean final regret | "
             "previous stage's best carried over: median regret | s/study |",
             "|---|---|---|---|---|---|"]
    for stage, methods in summary["stages"].items():
        for name, m in methods.items():
            carry = m.get("carried_regret") or []
            lines.append(f"| {stage} | {name} | {m['median_final_regret']:.4f} | "
                         f"{m['mean_final_regret']:.4f} | "
                         f"{f'{np.median(carry):.4f}' if carry else '-'} | "
                         f"{np.median(m['seconds']):.1f} |")
    return lines


TOLERANCES = (0.05, 0.10)  # shares of the regret scale that count as reaching the best


def scale_words(summary: dict[str, Any]) -> str:
    if summary.get("mode") == "continuous":
        return ("the median target value of 256 random mixtures of the stage minus the "
                "stage's best")
    return "the pool's best target value minus its median target value"


def cost_cells(values: list[float | None], scratch: list[float | None] | None,
               is_scratch: bool) -> str:
    """'median cost (reached/seeds) | saving' for costs to a level, seed by seed (None:
    never, counted infinitely late), the saving against scratch's median cost."""
    mine = median(values)
    base = None if scratch is None else median(scratch)
    saving = ("-" if mine is None or not base or is_scratch
              else f"{100 * (1 - mine / base):.0f}%")
    reached = sum(v is not None for v in values)
    return (f"{'never' if mine is None else f'{mine:.2f}'} ({reached}/{len(values)}) | "
            f"{saving}")


def earlier_later(values: list[float | None], scratch: list[float | None]) -> tuple[int, int]:
    """Seeds where a method's cost (None: never) is below / above scratch's on the same seed."""
    def late(costs: list[float | None]) -> list[float]:
        return [np.inf if v is None else v for v in costs]

    pairs = list(zip(late(values), late(scratch), strict=True))
    return sum(a < b for a, b in pairs), sum(a > b for a, b in pairs)


def within_tolerance(summary: dict[str, Any]) -> list[str]:
    """Cost to the best when "the best" is any mixture within a share of the regret scale of
    it: whether the savings hinge on singling out one mixture among near-ties."""
    if not all(v is not None for methods in summary["stages"].values()
               for m in methods.values() for v in m.get("spread", [None])):
        return []
    head = " | ".join(f"within {100 * t:.0f}%: median cost (reached) | saving" for t in TOLERANCES)
    lines = ["", "Within a tolerance of the best (regret <= a share of the regret scale: "
             f"{scale_words(summary)}; from then to the end):", "",
             f"| stage | method | {head} |", "|---|---|" + "---|---|" * len(TOLERANCES)]
    for stage, methods in summary["stages"].items():
        costs = {name: [[cost_to_best(curve, t * spread) for curve, spread
                         in zip(m["curves"], m["spread"], strict=True)] for t in TOLERANCES]
                 for name, m in methods.items()}
        for name, per_tolerance in costs.items():
            cells = [cost_cells(values, costs["scratch"][i] if "scratch" in costs else None,
                                name == "scratch") for i, values in enumerate(per_tolerance)]
            lines.append(f"| {stage} | {name} | " + " | ".join(cells) + " |")
    return lines


def to_scratch_regret(methods: Mapping[str, Any]) -> dict[str, list[float | None]]:
    """Per method and seed, the cost from which its recommendation is at least as good as
    the scratch study's final one on that seed, and stays so (None: never): the compute each
    needs for scratch's final regret. Scratch's own is when it got there for good."""
    levels = [curve[-1][1] for curve in methods["scratch"]["curves"]]
    return {name: [cost_to_best(curve, level) for curve, level
                   in zip(m["curves"], levels, strict=True)] for name, m in methods.items()}


def at_scratch_regret(summary: dict[str, Any]) -> list[str]:
    """The issue's measure: compute to reach the final regret a study from scratch ends on,
    seed by seed, reuse and warm against scratch."""
    lines = ["", "At equal final regret (the level: the scratch study's final regret on the "
             "same seed and pool; cost from which a method's recommendation is at least that "
             "good for good; never = infinitely late; saving: 1 - median cost / scratch's; "
             "paired: seeds where it needs less / more than scratch):", "",
             "| stage | method | median cost to scratch's final regret (reached) | saving | "
             "paired less / more |", "|---|---|---|---|---|"]
    for stage, methods in summary["stages"].items():
        if "scratch" not in methods:
            continue
        costs = to_scratch_regret(methods)
        for name, values in costs.items():
            less, more = earlier_later(values, costs["scratch"])
            lines.append(f"| {stage} | {name} | "
                         f"{cost_cells(values, costs['scratch'], name == 'scratch')} | "
                         f"{'-' if name == 'scratch' else f'{less} / {more}'} |")
    return lines


GRID_STEP = 0.05  # cost resolution of the median curves (target-run units)


def median_curve(curves: list[list[list[float]]], grid: np.ndarray) -> np.ndarray:
    """Per grid cost, the median over seeds of the regret of the recommendation held then (a
    seed with no recommendation yet counts as infinitely bad)."""
    values = regret_grid(curves, grid + 1e-9)  # a run at a grid cost counts there
    return np.median(np.where(np.isnan(values), np.inf, values), axis=0)


def for_good(values: np.ndarray, grid: np.ndarray, level: float) -> float | None:
    """The first grid cost from which ``values`` stay at or below ``level`` (None: never)."""
    above = np.flatnonzero(values > level + 1e-12)
    if not len(above):
        return float(grid[0])
    return None if above[-1] == len(grid) - 1 else float(grid[above[-1] + 1])


def at_scratch_median(summary: dict[str, Any]) -> list[str]:
    """The issue's measure read as Olmix reads it ("matches full recomputation with less
    compute"): the cost from which a method's median regret over seeds stays at or below the
    median final regret of the studies from scratch. Per seed (the table above) one lucky
    final regret of scratch's sets the bar for that seed alone; across seeds the noise of
    single studies averages out."""
    budget = float(summary["budget"])
    marks = [0.0, 0.1, 0.25, 0.5, 1.0]
    head = " | ".join(f"at {m:g} budget" for m in marks)
    lines = ["", "Median curves (over seeds; level: the median final regret of the studies "
             "from scratch; cost from which a method's median regret stays at or below it; "
             "saving: 1 - cost / scratch's; the median regret at shares of the budget "
             f"{budget:g}):",
             "", f"| stage | method | level | cost to the level | saving | {head} |",
             "|---|---|---|---|---|" + "---|" * len(marks)]
    for stage, methods in summary["stages"].items():
        if "scratch" not in methods:
            continue
        level = float(np.median([c[-1][1] for c in methods["scratch"]["curves"]]))
        # to the last run of any study (a study may end past its budget), so that each
        # curve's end is its final regrets' median
        end = max([budget] + [c[-1][0] for m in methods.values() for c in m["curves"] if c])
        grid = np.round(np.arange(0.0, end + GRID_STEP, GRID_STEP), 6)
        curves = {name: median_curve(m["curves"], grid) for name, m in methods.items()}
        base = for_good(curves["scratch"], grid, level)
        for name, values in curves.items():
            cost = for_good(values, grid, level)
            saving = ("-" if name == "scratch" or cost is None or not base
                      else f"{100 * (1 - cost / base):.0f}%")
            at = [values[int(round(m * budget / GRID_STEP))] for m in marks]
            lines.append(f"| {stage} | {name} | {level:.4f} | "
                         f"{'never' if cost is None else f'{cost:.2f}'} | {saving} | "
                         + " | ".join("-" if np.isinf(v) else f"{v:.4f}" for v in at) + " |")
    return lines


def paired(summary: dict[str, Any]) -> list[str]:
    """Per stage and method, the seeds where it reaches the best earlier / later than scratch."""
    out = []
    for stage, methods in summary["stages"].items():
        if "scratch" not in methods:
            continue
        base = methods["scratch"]["cost_to_best"]
        for name, m in methods.items():
            if name == "scratch":
                continue
            earlier, later = earlier_later(m["cost_to_best"], base)
            out.append(f"{stage} {name} earlier in {earlier}/{len(base)} seeds, later in "
                       f"{later}")
    return out


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [s for s in summary["stages"] if len(summary["stages"][s]) > 1]
    fig, axes = plt.subplots(1, len(stages), figsize=(5 * len(stages), 3.6), squeeze=False)
    grid = np.linspace(0, summary["budget"], 60)
    for ax, stage in zip(axes[0], stages, strict=True):
        for name, m in summary["stages"][stage].items():
            values = median_curve(m["curves"], grid)
            ax.plot(grid, np.where(np.isinf(values), np.nan, values), label=name)
        ax.set_title(f"after update: {stage}")
        ax.set_xlabel("cost (target runs)")
        ax.set_ylabel("median regret")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def arm_options(args: argparse.Namespace) -> dict[str, Any]:
    """The arm options given on the command line that differ from the policies' defaults."""
    return {name: getattr(args, name) for name in ARM_LABELS
            if getattr(args, name) != ReuseOptions.model_fields[name].default}


BUDGET, K = 10.0, 6  # the scenario's usual budget and domain count: other values name the files


def labels(table: str, objective: str, arms: Mapping[str, Any] | None = None,
           first_budget: float | None = None, chain: str = "last", mode: str = "pool",
           budget: float = BUDGET, k: int = K) -> tuple[str, str]:
    """The results' file stem and the report's title for ``table``, the scenario's variant
    (domains, budget, the first study's budget, the chain) and the varied ``arms``."""
    stem, title = (("reuse_replay", "synthetic truth") if table == "synthetic"
                   else ("reuse_replay_admire", f"ADMIRE IFT Runs, {objective}"))
    if mode == "continuous":
        stem, title = (f"{stem}_continuous",
                       f"{title}; any mixture, regret against each stage's best")
    if table == "synthetic" and k != K:
        stem, title = f"{stem}_k{k}", f"{title}; {k} domains"
    if budget != BUDGET:
        stem, title = f"{stem}_b{budget:g}", f"{title}; budget {budget:g}"
    if first_budget is not None:
        stem, title = (f"{stem}_first{first_budget:g}",
                       f"{title}; the first study's budget {first_budget:g}")
    if chain != "last":
        stem, title = f"{stem}_chain_{chain}", f"{title}; warm-started from every earlier study"
    for name, value in (arms or {}).items():
        suffix, note = ARM_LABELS[name]
        stem, title = f"{stem}_{suffix(value)}", f"{title}; {note(value)}"
    return stem, title


@dataclass(frozen=True)
class SeedTask:
    """What one worker runs: a seed's scenario under the command line's variant."""

    table: str
    objective: str
    spec: SyntheticSpec
    seed: int
    budget: float
    arms: dict[str, Any]
    first_budget: float | None
    chain: str
    mode: str


def seed_task(task: SeedTask) -> list[dict[str, Any]]:
    """One seed's scenario (built in the worker), its studies' runs tables left out."""
    torch.set_num_threads(1)
    truths = None
    if task.table == "admire-ift":
        stages = admire_ift_scenario(task.seed)
        column, minimize = runs.METRIC_PREFIX + task.objective, False
    elif task.mode == "continuous":
        truths = split_add_truths(task.spec, task.seed)
        stages = [t.stage for t in truths]
        column, minimize = OBJECTIVE, True
    else:
        stages = split_add_scenario(task.spec, task.seed)
        column, minimize = OBJECTIVE, True
    with tempfile.TemporaryDirectory() as tmp:
        results = run_seed(stages, task.seed, task.budget, Path(tmp), column, minimize,
                           task.arms, task.first_budget, task.chain, truths)
    return [{k: v for k, v in r.items() if k != "runs"} for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=TABLES, default="synthetic")
    parser.add_argument("--objective", default="avg_id+ood", help="admire-ift metric")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=BUDGET)
    parser.add_argument("--first-budget", type=float, default=None,
                        help="the first (scratch) stage's budget, default --budget: how much "
                             "the earlier study knows")
    parser.add_argument("--chain", choices=("last", "all"), default="last",
                        help="warm and reuse start from the previous stage's study (last) or "
                             "from every earlier one, each with its composed mapping (all)")
    parser.add_argument("--mode", choices=("pool", "continuous"), default="pool",
                        help="replay each stage's pool, or run live on the synthetic truth "
                             "(any mixture; synthetic table only)")
    parser.add_argument("--k", type=int, default=6)
    parser.add_argument("--rows", default="300,100,40", help="mixtures per rung, cheapest first")
    parser.add_argument("--workers", type=int, default=1, help="seeds run in parallel")
    fields = ReuseOptions.model_fields
    parser.add_argument("--prior-screens", default=fields["prior_screens"].default,
                        choices=get_args(fields["prior_screens"].annotation),
                        help="the warm and reuse arms' screens (policy option prior_screens)")
    parser.add_argument("--focus", default=fields["focus"].default,
                        choices=get_args(fields["focus"].annotation),
                        help="the reuse arm's candidates (policy option focus): a random half "
                             "is the control for the earlier best's shares")
    parser.add_argument("--focus-share", type=float, default=fields["focus_share"].default,
                        help="the reuse arm's share of the target mixtures kept (focus_share)")
    parser.add_argument("--recommend-prior", default=fields["recommend_prior"].default,
                        type=lambda v: {"true": True, "false": False}[v.lower()],
                        help="true/false: the warm and reuse arms' recommend_prior option")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--name", default=None,
                        help="the results' file stem (default: from the variant's options)")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the md and png from the json of an earlier run")
    args = parser.parse_args()
    if args.mode == "continuous" and args.table != "synthetic":
        parser.error("--mode continuous needs the synthetic truth (--table synthetic)")
    arms = arm_options(args)
    if args.report_only:
        stem, _ = labels(args.table, args.objective, arms, args.first_budget, args.chain,
                         args.mode, args.budget, args.k)
        path = Path(args.out) / f"{args.name or stem}.json"
        summary = json.loads(path.read_text())
        backfill_spread(summary)
        _, title = labels(args.table, summary.get("objective", args.objective), arms,
                          args.first_budget, args.chain, args.mode, args.budget, args.k)
        text = markdown(summary, summary["command"], summary["wall_s"], title,
                        summary.get("workers", 1))
        path.with_suffix(".md").write_text(text)
        plot(summary, path.with_suffix(".png"))
        print(text)
        return
    torch.set_num_threads(1)
    spec = SyntheticSpec(k=args.k, rows_per_rung=tuple(int(n) for n in args.rows.split(",")))
    started = time.perf_counter()
    tasks = [SeedTask(args.table, args.objective, spec, seed, args.budget, arms,
                      args.first_budget, args.chain, args.mode) for seed in range(args.seeds)]
    results: list[dict[str, Any]] = []
    with ProcessPoolExecutor(args.workers) as pool:
        for done in as_completed([pool.submit(seed_task, t) for t in tasks]):
            results += done.result()
            print(f"seed {results[-1]['seed']} done at "
                  f"{(time.perf_counter() - started) / 60:.1f} min", flush=True)
    results.sort(key=lambda r: r["seed"])
    wall = time.perf_counter() - started
    summary = summarize(results, args.budget)
    command = (f"PYTHONPATH=. python bench/reuse_replay.py --seeds {args.seeds} --budget "
               f"{args.budget:g}")
    stem, title = labels(args.table, args.objective, arms, args.first_budget, args.chain,
                         args.mode, args.budget, args.k)
    stem = args.name or stem
    if args.first_budget is not None:
        command += f" --first-budget {args.first_budget:g}"
    if args.chain != "last":
        command += f" --chain {args.chain}"
    if args.mode != "pool":
        command += f" --mode {args.mode}"
    command += "".join(f" --{name.replace('_', '-')} {value}" for name, value in arms.items())
    if args.table == "synthetic":
        command += f" --k {args.k} --rows {args.rows}"
        summary.update({"k": args.k, "rows_per_rung": spec.rows_per_rung})
    else:
        command += f" --table {args.table} --objective {args.objective}"
        summary.update({"objective": args.objective,
                        "merged": {s: list(merge_pair(s)) for s in range(args.seeds)}})
    if args.workers > 1:
        command += f" --workers {args.workers}"
    if args.name:
        command += f" --name {args.name}"
    summary.update({"command": command, "wall_s": round(wall, 1), "table": args.table,
                    "workers": args.workers, "mode": args.mode})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(summary, command, wall, title, args.workers)
    (out / f"{stem}.json").write_text(json.dumps(summary, indent=1))
    (out / f"{stem}.md").write_text(text)
    plot(summary, out / f"{stem}.png")
    print(text)


if __name__ == "__main__":
    main()

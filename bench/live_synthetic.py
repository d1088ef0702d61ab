"""Live studies on synthetic truths: the policies a live study can run, in continuous mode.

The suite (bench/suite.py) replays runs tables: a study may only pick the table's rows, and the
regret is against the table's best row. A live study (``admire tune``, the notebook) is a
continuous-mode study: it may train any mixture. This bench runs that path on the suite's
synthetic presets, whose truth is known everywhere: each trial is one noisy run of the chosen
mixture on the problem's truth at the chosen rung (its seed noise and cost, as generated), and
the regret of a recommendation is its noiseless target value minus the certified optimum, in
units of the problem's regret scale (the median target value of 256 random mixtures minus the
optimum: 1.0 is no better than a random mixture).

    python bench/live_synthetic.py --seeds 10 --budget 10 --workers 2 --coverage 16

Writes OUT/live_synthetic.{json,md} (OUT = bench/results by default): per problem and policy,
the median regret at 3 units and at the end, and the default's paired record (wins / losses,
one-sided Wilcoxon p) against each other policy at the end. With ``--coverage N``, also how
often a model policy's 90% intervals hold the truth: ``Study.predict`` at N random mixtures per
study and the recommendation's own intervals, where the truth is known exactly.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import norm, wilcoxon

from admire.app.confirm import run_interval, study_value
from admire.bo.policies.base import Recommendation
from admire.bo.policies.registry import parse_policy, split_specs
from admire.problems import Problem, synthetic_problems
from admire.problems.synthetic import METRIC, SyntheticProblem
from admire.replay.problem import ReplayProblem
from admire.schema import runs
from admire.study import Study
from admire.study.loop import Event, run_function

RESULTS = Path(__file__).parent / "results"
PROBLEMS = ("k3-easy", "k5-face-replicates", "k8-corr0.5", "two-rung-k10-corr0.3-ratio3",
            "five-rung-k12-ratio300", "k19-admire-like")
POLICIES = "mfbo,random,sfbo"
CHECKPOINT = 3.0  # target-run units
COVERAGE_KEYS = ("held_out_mean", "held_out_run", "recommended_mean", "recommended_run",
                 "recommended_drawn_mean", "recommended_drawn_run")
CONFIRMED_KEYS = ("confirmed_run", "confirmed_fresh_run")


def regret_scale(problem: Problem, seed: int = 0) -> float:
    """Median target value of 256 random mixtures minus the optimum (a random mixture's regret)."""
    truth = problem.synthetic
    assert truth is not None
    swarm = np.random.default_rng(seed).dirichlet(np.ones(truth.spec.k), size=256)
    return float(np.median(truth.truth(swarm))) - truth.optimum_value


def live_study(problem_name: str, policy_text: str, seed: int, budget: float,
               coverage: int = 0) -> dict[str, Any]:
    """One continuous-mode study on a preset's truth: its regret curve in scale units, and
    its intervals' coverage at ``coverage`` held-out mixtures (:func:`interval_coverage`)."""
    study, truth, curve, seconds = run_live(problem_name, policy_text, seed, budget)
    return {"problem": problem_name, "policy": policy_text, "seed": seed, "curve": curve,
            "seconds": seconds, **interval_coverage(study, truth, seed, coverage)}


def run_live(problem_name: str, policy_text: str, seed: int, budget: float
             ) -> tuple[Study, SyntheticProblem, list[tuple[float, float]], float]:
    """The finished study on the preset's truth, the truth, the recommendation's regret
    curve (cost, regret in scale units) and the study's wall seconds."""
    torch.set_num_threads(1)
    problem = synthetic_problems([problem_name])[0]
    truth = problem.synthetic
    assert truth is not None
    spec = parse_policy(policy_text)
    config = ReplayProblem.from_table(problem.table, problem.objective, minimize=True).config(
        spec, seed=seed, budget=budget, name=f"live-{spec.name}")
    study = Study(replace(config, mode="continuous", max_trials=None))
    scale = regret_scale(problem)
    rng = np.random.default_rng([seed, 1234])
    curve: list[tuple[float, float]] = []

    def score(event: Event) -> None:
        if event.kind == "recorded" and event.failure is None:
            weights = np.asarray(study.recommend(interval=False).weights(truth.domains))
            regret = float(truth.truth(weights)) - truth.optimum_value
            curve.append((study.spent(), max(regret, 0.0) / scale))

    def train(mixture: dict[str, float], rung: str) -> tuple[dict[str, float], float]:
        return truth.evaluate(np.array([mixture[d] for d in truth.domains]), rung, rng)

    start = time.perf_counter()
    run_function(study, train, on_event=score)
    return study, truth, curve, time.perf_counter() - start


def interval_coverage(study: Study, truth: SyntheticProblem, seed: int, n: int
                      ) -> dict[str, Any]:
    """How often the study's 90% intervals hold the truth, away from its runs and at its answer.

    ``held_out``: ``Study.predict`` at ``n`` random mixtures (seeded, the same for every
    policy): the share whose mean interval holds the noiseless target value, and the expected
    share of new runs (target value plus the generator's seed noise) inside the run interval.
    ``recommended``: the same two for the recommendation's own intervals. Policies without a
    model, and studies with too few target runs to check an interval on
    (:mod:`admire.bo.reach`), give no intervals (empty dict).
    """
    if n == 0:
        return {}
    rec = study.recommend()
    if rec.run_lower90 is None or rec.lower90 is None:
        return {}
    noise = float(truth.noise_sd[-1])
    domains = truth.domains
    mixtures = np.random.default_rng([seed, 4321]).dirichlet(np.ones(len(domains)), size=n)

    def held(lower: float, upper: float, run_lower: float, run_upper: float,
             weights: np.ndarray) -> tuple[float, float]:
        value = float(truth.truth(weights))
        return float(lower <= value <= upper), run_share(run_lower, run_upper, value, noise)

    held_out, beyond = [], []
    for weights in mixtures:
        mixture = np.array([weights[domains.index(d)] for d in study.space.domains])
        p = study.predict(mixture)
        assert p is not None and p.lower90 is not None and p.run_lower90 is not None
        held_out.append(held(p.lower90, p.upper90, p.run_lower90, p.run_upper90, weights))
        beyond.append(p.reach.extrapolates)
    at_rec = held(rec.lower90, rec.upper90, rec.run_lower90, rec.run_upper90,
                  np.asarray(rec.weights(domains)))
    # the same mixture asked through Study.predict: its intervals carry the draws too
    asked = study.predict(rec.weights(study.space.domains))
    at_rec_drawn = held(asked.lower90, asked.upper90, asked.run_lower90, asked.run_upper90,
                        np.asarray(rec.weights(domains)))
    mean, run = np.mean(held_out, axis=0)
    shares, far = np.array(held_out)[:, 1], np.array(beyond, dtype=bool)
    return {"confirmed": confirmed_coverage(study, truth, seed, rec),
            "held_out": {"mean": float(mean), "run": float(run)},
            "recommended": {"mean": at_rec[0], "run": at_rec[1]},
            "recommended_drawn": {"mean": at_rec_drawn[0], "run": at_rec_drawn[1]},
            "reach": {"run_within": float(shares[~far].sum()), "n_within": int((~far).sum()),
                      "run_beyond": float(shares[far].sum()), "n_beyond": int(far.sum())}}


def run_share(lower: float, upper: float, value: float, noise: float) -> float:
    """The expected share of new runs (``value`` plus normal seed noise) inside [lower, upper]."""
    return float(norm.cdf((upper - value) / noise) - norm.cdf((lower - value) / noise))


def confirmed_coverage(study: Study, truth: SyntheticProblem, seed: int,
                       rec: Recommendation) -> dict[str, float]:
    """The expected share of new runs inside the interval ``admire tune`` shows once it has
    confirmed the recommendation ``rec`` (:mod:`admire.app.confirm`): Student t over the
    study's own run of the recommended mixture (its first, if it ran it at the target: the
    product's ``study_value``) and the config's ``confirm_seeds`` fresh runs (``run``); and
    over the fresh runs alone (``fresh_run``: no run that was picked for its luck in it)."""
    weights = np.asarray(rec.weights(truth.domains))
    target = study.ladder.target.name
    rng = np.random.default_rng([seed, 5678])
    fresh = [truth.evaluate(weights, target, rng)[0][METRIC]
             for _ in range(study.config.confirm_seeds)]
    value, noise = float(truth.truth(weights)), float(truth.noise_sd[-1])

    def covered(values: list[float]) -> float:
        interval = run_interval(values)
        return float("nan") if interval is None else run_share(*interval, value, noise)

    own = study_value(study.runs, runs.METRIC_PREFIX + study.metric, target, rec.mixture)
    first = [] if own is None else [own]
    return {"run": covered(first + fresh), "fresh_run": covered(fresh)}


def regret_at(curve: list[list[float]], cost: float) -> float:
    """The recommendation's regret once ``cost`` is spent (before the first run: 1.0)."""
    before = [g for c, g in curve if c <= cost + 1e-9]
    return before[-1] if before else 1.0


def summarize(results: list[dict[str, Any]], policies: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in results:
        entry = out.setdefault(r["problem"], {}).setdefault(r["policy"], {
            "seeds": [], "at_checkpoint": [], "final": [], "seconds": []})
        entry["seeds"].append(r["seed"])
        entry["at_checkpoint"].append(regret_at(r["curve"], CHECKPOINT))
        entry["final"].append(r["curve"][-1][1] if r["curve"] else 1.0)
        entry["seconds"].append(round(r["seconds"], 2))
        for key in ("held_out", "recommended", "recommended_drawn", "confirmed"):
            if key in r:
                for kind in r[key]:
                    entry.setdefault(f"{key}_{kind}", []).append(r[key][kind])
        entry["studies"] = entry.get("studies", 0) + 1
        if "reach" in r:  # pooled over the held-out mixtures of the studies showing intervals
            pooled = entry.setdefault("reach", {k: 0.0 for k in r["reach"]})
            for k, v in r["reach"].items():
                pooled[k] += v
    default = policies[0]
    for methods in out.values():
        mine = np.array(methods[default]["final"])
        for name, m in methods.items():
            m["median_at_checkpoint"] = float(np.median(m["at_checkpoint"]))
            m["median_final"] = float(np.median(m["final"]))
            for key in COVERAGE_KEYS + CONFIRMED_KEYS:
                if key in m:
                    m[f"coverage_{key}"] = float(np.mean(m[key]))
            if name == default:
                continue
            other = np.array(m["final"])
            m["default_wins"] = int(np.sum(mine < other))
            m["default_losses"] = int(np.sum(mine > other))
            diff = other - mine
            m["p_default_better"] = (float(wilcoxon(diff, alternative="greater").pvalue)
                                     if np.any(diff != 0) else 1.0)
    return out


def markdown(summary: dict[str, Any], policies: list[str], command: str, wall: float) -> str:
    default = policies[0]
    lines = ["# Live (continuous-mode) studies on synthetic truths", "",
             f"`{command}` - wall {wall / 60:.1f} min.", "",
             "Regret: the recommendation's noiseless target value minus the certified optimum, "
             "in units of the problem's regret scale (a random mixture's median regret = 1). "
             f"Median over seeds at {CHECKPOINT:g} target-run units and at the end; "
             f"`{default}` vs each other policy at the end: seeds where it is better / worse, "
             "one-sided paired Wilcoxon p (small: the default is better).", "",
             "| problem | policy | regret @3 | regret at end | default better / worse | p | "
             "s/study |", "|---|---|---|---|---|---|---|"]
    for problem, methods in summary.items():
        for name in policies:
            m = methods[name]
            record = ("- | -" if name == default
                      else f"{m['default_wins']} / {m['default_losses']} | "
                           f"{m['p_default_better']:.2f}")
            lines.append(f"| {problem} | {name} | {m['median_at_checkpoint']:.3f} | "
                         f"{m['median_final']:.3f} | {record} | "
                         f"{np.median(m['seconds']):.1f} |")
    return "\n".join(lines + coverage_table(summary, policies)
                     + confirmed_table(summary, policies)) + "\n"


def coverage_table(summary: dict[str, Any], policies: list[str]) -> list[str]:
    """The intervals' coverage rows, for the policies that have intervals (none: no table)."""
    rows = [f"| {problem} | {name} | " + " | ".join(
                _share(methods[name].get("coverage_" + key)) for key in COVERAGE_KEYS) + " | "
            + reach_cells(methods[name]) + " |"
            for problem, methods in summary.items() for name in policies
            if "coverage_held_out_mean" in methods[name]]
    if not rows:
        return []
    return ["", "## The 90% intervals against the truth", "",
            "Mean over seeds. Held out: `Study.predict` at random mixtures (the same for every "
            "policy); mean: the share whose interval for the mean holds the noiseless target "
            "value; run: the expected share of new runs (the value plus the generator's seed "
            "noise) inside the interval for one new run. Recommended: the same at the "
            "recommendation's own intervals (`Study.recommend`: with the draws since commit "
            "942e059, the fit alone's before it; since 4d6812b also spanning its prediction "
            "without its own runs); drawn: `Study.predict` at the recommended mixture. "
            "0.90 is calibrated. "
            "Studies showing intervals: a study withholds them until the target rung has 5 "
            "runs; held out run, within / beyond: pooled over the held-out mixtures within and "
            "beyond the distance the study checked its intervals at (`admire/bo/reach.py`).",
            "", "| problem | policy | held out: mean | held out: run | recommended: mean | "
            "recommended: run | recommended, drawn: mean | recommended, drawn: run | "
            "studies showing intervals | held out run: within / beyond |",
            "|---|---|---|---|---|---|---|---|---|---|", *rows]


def confirmed_table(summary: dict[str, Any], policies: list[str]) -> list[str]:
    """The recommendation's new-run coverage before and after ``admire tune`` confirms it
    (summaries from before the confirmation was measured: no table)."""
    rows = [f"| {problem} | {name} | {_share(methods[name].get('coverage_recommended_run'))} | "
            + " | ".join(_share(methods[name].get("coverage_" + key)) for key in CONFIRMED_KEYS)
            + " |"
            for problem, methods in summary.items() for name in policies
            if "coverage_confirmed_run" in methods[name]]
    if not rows:
        return []
    return ["", "## The recommendation's interval for a new run, once confirmed", "",
            "Mean over the studies showing intervals: the expected share of new runs at the "
            "recommended mixture inside the model's new-run interval (as above), inside the "
            "interval `admire tune` shows once it has trained the recommendation with the "
            "config's `confirm_seeds` (2) fresh seeds (Student t over those runs and the "
            "study's own run there: `admire/app/confirm.py`), and inside the same over the "
            "fresh runs alone. 0.90 is calibrated.", "",
            "| problem | policy | model's interval | confirmed: own run and fresh seeds | "
            "confirmed: fresh seeds alone |", "|---|---|---|---|---|", *rows]


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def reach_cells(method: dict[str, Any]) -> str:
    """How many studies showed intervals, and the held-out run coverage within and beyond
    the checked distance (``-`` where a summary predates the split or has no such mixture)."""
    shown = f"{len(method.get('held_out_run', []))} of {method['studies']}" \
        if "studies" in method else "-"
    reach = method.get("reach")
    if reach is None:
        return f"{shown} | -"

    def share(total: float, n: float) -> str:
        return f"{total / n:.2f} (n={int(n)})" if n else "-"

    return (f"{shown} | {share(reach['run_within'], reach['n_within'])} / "
            f"{share(reach['run_beyond'], reach['n_beyond'])}")


def merge(args: argparse.Namespace, policies: list[str]) -> None:
    """One report from earlier runs' curves (the policies in ``policies`` order)."""
    out = Path(args.out)
    runs_ = [json.loads((out / f"{name}.json").read_text()) for name in args.merge.split(",")]
    results = list({(r["problem"], r["policy"], r["seed"]): r for run_ in runs_
                    for r in run_["curves"] if r["policy"] in policies}.values())
    summary = summarize(results, policies)
    command = (f"python bench/live_synthetic.py --merge {args.merge} --policies "
               f"{args.policies} --name {args.name}")
    wall = sum(run_["wall_s"] for run_ in runs_)
    text = markdown(summary, policies, command, wall).replace(
        "# Live (continuous-mode) studies on synthetic truths",
        "# Live (continuous-mode) studies on synthetic truths (merged: "
        + "; ".join(f"`{run_['command']}`" for run_ in runs_) + ")")
    (out / f"{args.name}.json").write_text(json.dumps(
        {"command": command, "wall_s": wall, "summary": summary, "curves": results}, indent=1))
    (out / f"{args.name}.md").write_text(text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--policies", default=POLICIES, help="the first is the one compared")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--coverage", type=int, default=0,
                        help="held-out random mixtures per study at which Study.predict's "
                             "90%% intervals are checked against the truth (0: none)")
    parser.add_argument("--name", default="live_synthetic")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--merge", default="",
                        help="comma-separated result names (in --out) to report together "
                             "instead of running: same seeds, so the comparison is paired")
    args = parser.parse_args()
    problems = args.problems.split(",")
    policies = split_specs(args.policies)
    if args.merge:
        merge(args, policies)
        return
    jobs = [(p, pol, s, args.budget, args.coverage) for p in problems for pol in policies
            for s in range(args.seeds)]
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(live_study, *job) for job in jobs]
        for done in as_completed(futures):
            results.append(done.result())
            print(f"{len(results)}/{len(jobs)} studies at "
                  f"{(time.perf_counter() - started) / 60:.1f} min", flush=True)
    results.sort(key=lambda r: (r["problem"], r["policy"], r["seed"]))
    wall = time.perf_counter() - started
    summary = summarize(results, policies)
    command = (f"python bench/live_synthetic.py --problems {args.problems} --policies "
               f"{args.policies} --seeds {args.seeds} --budget {args.budget:g} "
               f"--workers {args.workers}"
               + (f" --coverage {args.coverage}" if args.coverage else ""))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(summary, policies, command, wall)
    (out / f"{args.name}.json").write_text(json.dumps(
        {"command": command, "wall_s": round(wall, 1), "budget": args.budget,
         "summary": summary, "curves": results}, indent=1))
    (out / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

"""Are admire's 90% intervals calibrated? Coverage on held-out target runs, in replay.

For each problem and seed, the default policy runs to the problem's budget; then, for every
target mixture the study did NOT run at the target, its recorded target value is compared with
the study's 90% interval for a new run there (latent mean plus the model's seed noise: what a
user gets when they train it). On synthetic problems the interval for the mean is also checked
against the noiseless truth. A calibrated 90% interval covers about 90%.

    python bench/calibration.py [--seeds 5] [--problems ...]

Writes bench/results/calibration.json and .md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from admire.bo.intervals import Z90
from admire.bo.surrogate import conformal_scale  # re-exported: calibration_blocked uses it

sys.path.insert(0, str(Path(__file__).parent))

RESULTS = Path(__file__).parent / "results"
PROBLEMS = ("admire-ift/avg_id+ood", "admire-ift/avg_ood", "synthetic/k19-admire-like/s0",
            "synthetic/k8-corr0.5/s0", "synthetic/k5-face-replicates/s0",
            "synthetic/k50-face/s0")


@dataclass(frozen=True)
class HeldOut:
    """A replayed study run to its budget and the target mixtures it never ran at the target,
    with their recorded target values (oriented for maximisation, like the model's)."""

    study: Any
    problem: Any
    replay: Any
    target: int
    mask: np.ndarray  # over replay.target_weights
    weights: np.ndarray
    truth: np.ndarray


def held_out_study(name: str, spec: str, seed: int) -> HeldOut:
    """Run policy ``spec`` on problem ``name`` with ``seed`` to the problem's budget."""
    import suite

    from admire.bo.policies.registry import parse_policy
    from admire.space import mixture_key
    from admire.study.loop import run

    problem = suite.all_problems()[name]
    replay = suite.replay_problem(name)
    budget = problem.budget if BUDGET is None else BUDGET
    study = replay.study(parse_policy(spec), seed=seed, budget=budget)
    run(study, replay.evaluator())
    obs = study.history().observations
    target = len(study.ladder.rungs) - 1
    run_at_target = {mixture_key(w) for w in obs.weights[obs.rung == target]}
    mask = np.array([mixture_key(w) not in run_at_target for w in replay.target_weights])
    truth = replay.target_values[mask] * (-1.0 if replay.minimize else 1.0)
    return HeldOut(study, problem, replay, target, mask, replay.target_weights[mask], truth)


def write_results(name: str, data: dict[str, Any], lines: list[str]) -> None:
    """NAME.json and NAME.md in bench/results, and the report on stdout."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=1))
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def held_out_main(doc: str, default_name: str,
                  coverage: Callable[[tuple[str, int]], dict[str, Any]],
                  report: Callable[[list[dict[str, Any]], list[str], str], list[str]],
                  progress: Callable[[dict[str, Any]], str]) -> None:
    """The command line of the experiments on calibration's held-out studies
    (calibration_warp.py, calibration_blocked.py): ``coverage`` per (problem, seed) in spawned
    workers, ``report`` of the rows, NAME.json and NAME.md in bench/results; ``--report-only``
    rebuilds NAME.md from the saved NAME.json."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--problems", default=",".join(PROBLEMS[:5]))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--name", default=default_name)
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild NAME.md from NAME.json without running")
    args = parser.parse_args()
    if args.report_only:
        saved = json.loads((RESULTS / f"{args.name}.json").read_text())
        write_results(args.name, saved,
                      report(saved["rows"], saved["problems"], saved["command"]))
        return
    start = time.time()
    command = f"python bench/{Path(sys.argv[0]).name} " + " ".join(sys.argv[1:])
    problems = args.problems.split(",")
    tasks = [(p, s) for p in problems for s in range(args.seeds)]
    with ProcessPoolExecutor(args.workers,
                             mp_context=multiprocessing.get_context("spawn")) as ex:
        rows = []
        for row in ex.map(coverage, tasks):
            rows.append(row)
            print(f"[{len(rows)}/{len(tasks)}] {row['problem']} seed {row['seed']}: "
                  f"{progress(row)}", flush=True)
    saved = {"rows": rows, "problems": problems, "seeds": args.seeds, "command": command,
             "machine": platform.platform(), "wall_seconds": time.time() - start}
    write_results(args.name, saved, report(rows, problems, command))


def coverage(task: tuple[str, str, int]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)

    from admire.bo import hyperparameters

    name, spec, seed = task
    case = held_out_study(name, spec, seed)
    study, problem, replay, target = case.study, case.problem, case.replay, case.target
    held_out, weights, truth = case.mask, case.weights, case.truth
    surrogate = study.policy.model(study.history())
    mean, var_f = surrogate.predict(weights, target)
    _, var_y = surrogate.predict(weights, target, observation_noise=True)
    scale = surrogate.interval_scale(target)
    miss = np.abs(truth - mean)
    inside_run = miss <= Z90 * np.sqrt(var_y)
    inside_scaled = miss <= Z90 * scale * np.sqrt(var_y)
    every = surrogate.loo_z()
    scale_all = conformal_scale(every)
    before = surrogate.prequential_z(target)
    scale_before = conformal_scale(before)
    variants = {"target": scale, "all": scale_all, "max": max(scale, scale_all),
                "prequential": max(scale, scale_before)}
    # Where the study went vs where it did not: the held-out mixtures by thirds of the model's
    # mean (best third first), and its own target runs each predicted before it ran.
    by_mean = np.array_split(np.argsort(-mean), 3)
    far = np.sqrt(var_f) / np.sqrt(var_f.max())
    out = {"problem": name, "policy": spec, "seed": seed, "held_out": int(held_out.sum()),
           "coverage_new_run": float(inside_run.mean()),
           "coverage_calibrated": float(inside_scaled.mean()), "scale": scale,
           "median_z": float(np.median(miss / np.sqrt(var_y))),
           "variants": {k: {"scale": v, "coverage": float(
               (miss <= Z90 * v * np.sqrt(var_y)).mean())}
               for k, v in variants.items()},
           "z_by_sd_tercile": [float(np.median(miss[m] / np.sqrt(var_y)[m]))
                               for m in np.array_split(np.argsort(far), 3)],
           "coverage_by_mean_tercile": [float(inside_scaled[m].mean()) for m in by_mean],
           "mean_z_by_mean_tercile": [float(np.mean((truth - mean)[m] / np.sqrt(var_y)[m]))
                                      for m in by_mean],
           "prequential": {"n": len(before),
                           "coverage": float((np.abs(before) <= Z90).mean()),
                           "coverage_calibrated": float((np.abs(before) <= Z90 * scale).mean()),
                           "scale": scale_before}}
    # The same intervals once the hyperparameters' uncertainty is carried (Laplace draws).
    _, var_w = surrogate.predict_widened(weights, target, observation_noise=True)
    before_w = surrogate.prequential_z(target, widened=True)
    inside_w = miss <= Z90 * np.sqrt(var_w)
    out["widened"] = {
        "coverage": float(inside_w.mean()),
        "coverage_scaled": float((miss <= Z90 * scale * np.sqrt(var_w)).mean()),
        "own": float((np.abs(before_w) <= Z90).mean()),
        "own_scaled": float((np.abs(before_w) <= Z90 * scale).mean()),
        "width": float(np.median(np.sqrt(var_w / var_y))),
        "coverage_by_mean_tercile": [float(inside_w[m].mean()) for m in by_mean],
        "prior_precision": hyperparameters.PRIOR_PRECISION}
    out["shown"] = shown_coverage(study.history().observations, weights, target,
                                  miss <= Z90 * scale * np.sqrt(var_w))
    # What the user is shown: the recommendation's mean interval against the noiseless truth
    # there (synthetic problems). Its new-run interval cannot be checked in replay: the
    # recommended mixture's recorded runs are in the model's data.
    rec = study.recommend()
    rec_w = rec.weights(study.space.domains)
    if problem.truth is not None and rec.lower90 is not None:
        value = float(problem.truth(rec_w[None, :])[0])
        out["rec_mean_inside"] = float(rec.lower90 <= value <= rec.upper90)
        # the fit alone's interval there (what the recommendation showed before the draws)
        fit_mean, fit_var = surrogate.predict(rec_w[None, :], target)
        oriented = -value if replay.minimize else value
        out["rec_mean_inside_fit"] = float(
            abs(oriented - fit_mean[0]) <= Z90 * scale * np.sqrt(fit_var[0]))
    if problem.truth is not None:
        noiseless = problem.truth(weights)
        noiseless = -noiseless if replay.minimize else noiseless
        out["coverage_mean_vs_truth"] = float(
            (np.abs(noiseless - mean) <= Z90 * np.sqrt(var_f)).mean())
    return out


def shown_coverage(observations: Any, weights: np.ndarray, target: int,
                   inside: np.ndarray) -> dict[str, Any]:
    """What ``Study.predict`` shows at the held-out mixtures (:mod:`admire.bo.reach`): whether
    it shows intervals at all, and their hits (``inside``) within and beyond the distance its
    leave-one-out check reached."""
    from admire.bo.reach import interval_reach

    reaches = [interval_reach(observations, w, target) for w in weights]
    beyond = np.array([r.extrapolates for r in reaches], dtype=bool)
    return {"intervals": reaches[0].calibrated, "target_runs": reaches[0].target_runs,
            "checked": reaches[0].checked, "hits_within": int(inside[~beyond].sum()),
            "n_within": int((~beyond).sum()), "hits_beyond": int(inside[beyond].sum()),
            "n_beyond": int(beyond.sum())}


BUDGET: float | None = None  # every study's budget (None: each problem's own)


def _set_worker(prior_precision: float | None, budget: float | None) -> None:
    """In each worker: the draws' prior precision under test (None: admire's default) and
    the studies' budget (None: each problem's)."""
    global BUDGET
    BUDGET = budget
    if prior_precision is not None:
        from admire.bo import hyperparameters

        hyperparameters.PRIOR_PRECISION = prior_precision


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def variant_lines(rows: list[dict[str, Any]], problems: list[str]) -> list[str]:
    """Where the miss comes from: coverage with the scale taken from the target rung's LOO
    z-scores (what admire uses), from every rung's, or the larger; and the held-out median |z|
    by thirds of the model's own sd (low: close to its data)."""
    if not rows or "variants" not in rows[0]:
        return []
    lines = ["", "## Which leave-one-out scale, and where the misses are", "",
             "| problem | coverage: target-rung LOO scale | every rung's LOO | the larger | "
             "held-out median abs z by model sd: low / mid / high third |", "|---|---|---|---|---|"]
    for name in problems:
        mine = [r for r in rows if r["problem"] == name]
        cover = [float(np.mean([r["variants"][k]["coverage"] for r in mine]))
                 for k in ("target", "all", "max")]
        thirds = np.median([r["z_by_sd_tercile"] for r in mine], axis=0)
        lines.append(f"| {name} | " + " | ".join(f"{c:.2f}" for c in cover) + " | "
                     + " / ".join(f"{z:.2f}" for z in thirds) + " |")
    return lines + where_lines(rows, problems)


def where_lines(rows: list[dict[str, Any]], problems: list[str]) -> list[str]:
    """Coverage where the study went (its own target runs, each predicted from the runs
    before it) against where it did not (held-out mixtures by thirds of the model's mean)."""
    if not rows or "prequential" not in rows[0]:
        return []
    lines = ["", "## Where the study went, and where it did not", "",
             "Own target runs: each predicted from the runs recorded before it (hyperparameters "
             "of the final fit), as the study chose it. Held-out thirds: the mixtures the study "
             "never ran at the target, by the model's mean (best third first); mean z < 0: the "
             "truth is worse than predicted.", "",
             "| problem | own target runs per seed | their coverage: model | with the LOO scale | "
             "with max(LOO, own-run scale) on held-out | held-out coverage by thirds: best / "
             "mid / worst | mean z by thirds |", "|---|---|---|---|---|---|---|"]
    for name in problems:
        mine = [r for r in rows if r["problem"] == name]
        pre = [r["prequential"] for r in mine]
        cover = np.mean([r["coverage_by_mean_tercile"] for r in mine], axis=0)
        bias = np.mean([r["mean_z_by_mean_tercile"] for r in mine], axis=0)
        lines.append(
            f"| {name} | {np.mean([p['n'] for p in pre]):.0f} | "
            f"{np.mean([p['coverage'] for p in pre]):.2f} | "
            f"{np.mean([p['coverage_calibrated'] for p in pre]):.2f} | "
            f"{np.mean([r['variants']['prequential']['coverage'] for r in mine]):.2f} | "
            + " / ".join(f"{c:.2f}" for c in cover) + " | "
            + " / ".join(f"{z:+.2f}" for z in bias) + " |")
    return lines + widened_lines(rows, problems) + shown_lines(rows, problems)


def widened_lines(rows: list[dict[str, Any]], problems: list[str]) -> list[str]:
    """Coverage once the intervals carry the hyperparameters' uncertainty, with and without
    the leave-one-out scale on top, where the study went and where it did not."""
    if not rows or "widened" not in rows[0]:
        return []
    from admire.bo.hyperparameters import DRAWS

    lines = ["", "## With the hyperparameters' uncertainty (Laplace draws)", "",
             f"Each interval mixes the model's predictions over {DRAWS} draws of its "
             "hyperparameters around the fit (precision: the Fisher information of the marginal "
             "likelihood plus "
             f"a prior precision of {rows[0]['widened'].get('prior_precision', 1.0):g} per raw "
             "direction; `admire/bo/hyperparameters.py`).", "",
             "| problem | held-out coverage | with the LOO scale too | held-out by thirds: best / "
             "mid / worst | own target runs, predicted before they ran | with the LOO scale too "
             "| median width vs the model's |", "|---|---|---|---|---|---|---|"]
    for name in problems:
        mine = [r["widened"] for r in rows if r["problem"] == name]
        mean = {k: float(np.mean([w[k] for w in mine]))
                for k in ("coverage", "coverage_scaled", "own", "own_scaled")}
        thirds = np.mean([w["coverage_by_mean_tercile"] for w in mine], axis=0)
        lines.append(f"| {name} | {mean['coverage']:.2f} | {mean['coverage_scaled']:.2f} | "
                     + " / ".join(f"{c:.2f}" for c in thirds)
                     + f" | {mean['own']:.2f} | {mean['own_scaled']:.2f} | "
                     f"{np.median([w['width'] for w in mine]):.2f}x |")
    return lines


def shown_lines(rows: list[dict[str, Any]], problems: list[str]) -> list[str]:
    """What a user is shown: intervals only once the study has enough target runs to check
    them on, and a flag on mixtures beyond the distance that check reached."""
    if not rows or "shown" not in rows[0]:
        return []
    from admire.bo.surrogate import MIN_LOO

    lines = ["", "## What Study.predict shows (admire/bo/reach.py)", "",
             f"Intervals are withheld until the target rung has {MIN_LOO} runs; a held-out mixture "
             "is beyond the checked distance when it is farther from every target run than any "
             "target run is from its nearest other one. Coverage pools the held-out mixtures of "
             "the studies that show intervals (draws and the LOO scale, as above).", "",
             "| problem | target runs per study (median) | studies showing intervals | "
             "coverage within the checked distance | beyond it | held-out share beyond |",
             "|---|---|---|---|---|---|"]

    def share(hits: int, n: int) -> str:
        return f"{hits / n:.2f} (n={n})" if n else "-"

    for name in problems:
        mine = [r["shown"] for r in rows if r["problem"] == name]
        shown = [m for m in mine if m["intervals"]]
        total = {k: sum(m[k] for m in shown)
                 for k in ("hits_within", "n_within", "hits_beyond", "n_beyond")}
        n_all = total["n_within"] + total["n_beyond"]
        lines.append(
            f"| {name} | {np.median([m['target_runs'] for m in mine]):.0f} | "
            f"{len(shown)} of {len(mine)} | {share(total['hits_within'], total['n_within'])} | "
            f"{share(total['hits_beyond'], total['n_beyond'])} | "
            + (f"{total['n_beyond'] / n_all:.2f}" if n_all else "-") + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--policy", default="mfbo")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--name", default="calibration")
    parser.add_argument("--prior-precision", type=float, default=None,
                        help="the hyperparameter draws' prior precision per raw direction "
                             "(default: admire's PRIOR_PRECISION)")
    parser.add_argument("--budget", type=float, default=None,
                        help="every study's budget in target-run units (default: each "
                             "problem's): how calibrated the intervals are after few target "
                             "runs")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild NAME.md from NAME.json without running")
    args = parser.parse_args()
    start = time.time()
    command = "python bench/calibration.py " + " ".join(sys.argv[1:])
    if args.report_only:
        saved = json.loads((RESULTS / f"{args.name}.json").read_text())
        rows, args.problems = saved["rows"], ",".join(saved["problems"])
        args.seeds = saved["seeds"]
        command = saved["command"]
        words = command.split()
        args.policy = words[words.index("--policy") + 1] if "--policy" in words else "mfbo"
        start -= saved["wall_seconds"]
    else:
        tasks = [(p, args.policy, s) for p in args.problems.split(",")
                 for s in range(args.seeds)]
        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_set_worker,
                                 initargs=(args.prior_precision, args.budget)) as ex:
            rows = list(ex.map(coverage, tasks))
        for row in rows:
            print(row, flush=True)
    report: dict[str, Any] = {"rows": rows, "problems": {}}
    lines = ["# Calibration of the 90% interval for a new target run (held-out target mixtures)",
             "", "| problem | seeds | held-out mixtures per seed | coverage, model's interval | "
             "coverage, calibrated (LOO scale) | median scale | median abs z (model) | "
             "coverage of the mean vs truth (model) | recommendation: its mean interval holds "
             "the truth | the same, the fit alone's interval |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in args.problems.split(","):
        mine = [r for r in rows if r["problem"] == name]
        cell = {"coverage_new_run": float(np.mean([r["coverage_new_run"] for r in mine])),
                "coverage_calibrated": float(np.mean([r["coverage_calibrated"] for r in mine])),
                "scale": float(np.median([r["scale"] for r in mine])),
                "median_z": float(np.median([r["median_z"] for r in mine]))}
        for key in ("rec_mean_inside", "rec_mean_inside_fit"):
            seen = [r[key] for r in mine if key in r]
            cell[key] = float(np.mean(seen)) if seen else None
        if "coverage_mean_vs_truth" in mine[0]:
            cell["coverage_mean_vs_truth"] = float(np.mean([r["coverage_mean_vs_truth"]
                                                            for r in mine]))
        report["problems"][name] = cell
        truth = (f"{cell['coverage_mean_vs_truth']:.2f}" if "coverage_mean_vs_truth" in cell
                 else "-")
        lines.append(f"| {name} | {len(mine)} | {int(np.mean([r['held_out'] for r in mine]))} | "
                     f"{cell['coverage_new_run']:.2f} | {cell['coverage_calibrated']:.2f} | "
                     f"{cell['scale']:.2f} | {cell['median_z']:.2f} | {truth} | "
                     f"{_share(cell['rec_mean_inside'])} | "
                     f"{_share(cell['rec_mean_inside_fit'])} |")
    report.update({"policy": args.policy, "seeds": args.seeds, "machine": platform.platform(),
                   "wall_seconds": time.time() - start,
                   "command": command})
    lines += ["", "A calibrated 90% interval covers 0.90; median |z| of a calibrated Gaussian is "
              "0.67.", *variant_lines(rows, args.problems.split(",")), "",
              f"Command: `{report['command']}`."]
    write_results(args.name, report, lines)


if __name__ == "__main__":
    main()

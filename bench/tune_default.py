"""The default live study, measured: Ray overhead, wall time, and whether its answer is any good.

1. Dispatch overhead: a no-op trial through the actor pool (submit -> actor -> result) against
   calling the same function directly, on a warm pool; plus the cold start of an actor.
2. Driver time per trial: the whole tune loop (propose, record, save, recommend) with a trivial
   evaluator, so the number is the loop's own cost.
3. The default study, ``admire tune examples/local-cpu.toml``, as a user runs it (a subprocess
   with an empty HOME: fresh corpora cache and Ray setup), timed end to end.
4. Its recommendation against the study's reference mixtures (uniform and natural) at the
   target rung: all trained with fresh seeds 1, 2, 3 (the study trained every trial with seed 0),
   on the same actor pool. The margin counts if larger than the seed spread.

    .venv/bin/python bench/tune_default.py   # ~15 min on 2 cores -> bench/results/tune_default.*
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from rich.console import Console

from admire.app.proxy_settings import ProxySettings
from admire.app.tune import build_study_corpora
from admire.evaluators.base import Outcome
from admire.evaluators.ray.connect import connect, disconnect
from admire.evaluators.ray.pool import RayProxyPool
from admire.evaluators.ray.worker import CorporaSource, TrialRequest, noop_trial
from admire.schema.config import load_config

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples" / "local-cpu.toml"
RESULTS = REPO / "bench" / "results"


def drain(pool: RayProxyPool, n: int) -> list[Outcome]:
    out: list[Outcome] = []
    while len(out) < n:
        out += pool.wait(timeout=1.0)
    return out


def dispatch_overhead(source: CorporaSource, config, n: int) -> dict:
    """Seconds per no-op trial through a warm one-actor pool, minus a direct call."""
    rung = config.ladder.cheapest
    request = TrialRequest(0, {d: 1 / len(config.domains) for d in config.domain_names}, rung)
    corpora = source.load()
    t0 = time.perf_counter()
    for _ in range(n):
        noop_trial(corpora, request, "cpu")
    direct = (time.perf_counter() - t0) / n
    with RayProxyPool(source, config.ladder, 1, work=noop_trial) as pool:
        t0 = time.perf_counter()
        pool.submit(request)
        drain(pool, 1)
        cold = time.perf_counter() - t0
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            pool.submit(TrialRequest(i + 1, request.mixture, rung))
            drain(pool, 1)
            times.append(time.perf_counter() - t0)
    return {"n": n, "direct_s": direct, "pool_median_s": statistics.median(times),
            "pool_p90_s": sorted(times)[int(0.9 * n)],
            "overhead_median_s": statistics.median(times) - direct,
            "cold_first_trial_s": cold, "target_s": 0.5}


def loop_overhead(tmp: Path, n: int) -> dict:
    """Driver seconds per trial of the tune loop itself, with a trivial evaluator."""
    from admire.app.tune import tune

    text = CONFIG.read_text(encoding="utf-8")
    text = text.replace("max_trials = 40", f"max_trials = {n}")
    text = re.sub(r"(?m)^confirm_seeds = .*$", "confirm_seeds = 0", text)  # the loop alone
    text = text.replace('path = "../fidelities/cpu-tiny.toml"',
                        f'path = "{REPO / "fidelities" / "cpu-tiny.toml"}"')
    config = tmp / "loop.toml"
    config.write_text(text, encoding="utf-8")
    t0 = time.perf_counter()
    result = tune(config, tmp / "loop-out", work=_smooth_work,
                  console=Console(file=io.StringIO()))
    wall = time.perf_counter() - t0
    return {"trials": n, "wall_s": wall, "per_trial_s": wall / n,
            "completed": result.study.n_completed}


def _smooth_work(corpora, request, device):  # defined in __main__: Ray pickles it by value
    w = request.mixture
    return {"objective": sum((v - 1 / len(w)) ** 2 for v in w.values()) + 2.5}, 0.0


def use_variant(out: Path, policy: str) -> None:
    """Measure the README job with ``policy`` added to its [policy] table: the variant config
    is written under ``out`` (inside the repository, its ladder path made absolute)."""
    global CONFIG
    text = CONFIG.read_text(encoding="utf-8")
    if "\n[policy]\n" not in text:
        raise SystemExit(f"{CONFIG} has no [policy] table to vary")
    text = text.replace("\n[policy]\n", f"\n[policy]\n{policy}\n", 1)
    text = text.replace('path = "../fidelities/cpu-tiny.toml"',
                        f'path = "{REPO / "fidelities" / "cpu-tiny.toml"}"')
    out.mkdir(parents=True, exist_ok=True)
    CONFIG = out / "variant.toml"
    CONFIG.write_text(text, encoding="utf-8")


def default_study(out: Path) -> dict:
    """Run the README's first command as a fresh user would, timed."""
    home = Path(tempfile.mkdtemp(prefix="admire-home-"))
    env = dict(os.environ, HOME=str(home))
    for name in ("ADMIRE_CACHE", "RAY_AUTH_MODE"):  # as a user has it: Ray's token auth on
        env.pop(name, None)
    cmd = [sys.executable, "-m", "admire", "tune", str(CONFIG.relative_to(REPO)), "--out",
           str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    (out / "tune.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        raise SystemExit(f"admire tune failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return study_result(out, wall)


def study_result(out: Path, wall: float | None) -> dict:
    """What the study in ``out`` reported; ``wall`` None: not timed from outside (the tune's
    own wall time, after start-up, stands in)."""
    rec = json.loads((out / "recommendation.json").read_text(encoding="utf-8"))
    return {"command": f"admire tune {CONFIG.relative_to(REPO)} --out {out}", "out": str(out),
            "wall_s": rec["wall_s"] if wall is None else wall, "limit_s": 600,
            "timed_from_outside": wall is not None, "tune_reported_wall_s": rec["wall_s"],
            "stop_reason": rec["stop_reason"], "spent_target_runs": rec["spent_target_runs"],
            "cost_unit_s": rec["cost_unit"], "trials_per_rung": rec["trials_per_rung"],
            "failures": len(rec["failures"]), "recommendation": rec["recommendation"],
            "references": rec["references"]}


def compare_at_target(study_dir: Path, references: list[str], n_seeds: int,
                      objective: object, rung: str | None = None) -> dict:
    """Retrain the recommended mixture and each reference with ``admire evaluate``'s code
    (the Ray session already open), on seeds held out from the study and from its
    confirmation: the study's seed + confirm_seeds + 1 onwards.

    The margin over a reference is its mean minus the recommendation's (lower is better);
    it counts only if larger than the seed spread (the larger of the two sds)."""
    from admire.app.evaluate import evaluate
    from admire.app.evaluations import load_evaluations
    from admire.study import Study

    saved = json.loads((study_dir / "recommendation.json").read_text(encoding="utf-8"))
    confirmed, study_seed = saved.get("confirmation"), saved["trial_seed"]
    study = Study.load(study_dir)
    first = study_seed + study.config.confirm_seeds + 1
    specs = [f"recommended:{study_dir / 'recommendation.json'}", *references]
    result = evaluate(study_dir, specs, n_seeds, rung=rung, first_seed=first)
    if result.failures:
        raise SystemExit("retraining failed: " + "; ".join(result.failures))
    values = {r.name: r.values for r in result.results}
    summary = {r.name: {"per_seed": {str(s): r.values[s] for s in result.seeds},
                        "mean": r.mean, "sd": r.sd if len(result.seeds) > 1 else 0.0}
               for r in result.results}
    rec = summary["recommended"]
    margins = {}
    for name in references:
        margin = summary[name]["mean"] - rec["mean"]
        spread = max(summary[name]["sd"], rec["sd"])
        margins[name] = {"margin": margin, "spread": spread, "beats": margin > spread,
                         "better_on_every_seed": all(values["recommended"][s] < values[name][s]
                                                     for s in result.seeds)}
    costs = [e.cost for e in load_evaluations(study_dir) if e.rung == result.rung]
    return {"rung": result.rung, "seeds": result.seeds,
            "objective": f"mean validation loss over {objective}", "minimize": result.minimize,
            "mixtures": summary, "margins": margins,
            "beats_every_reference": all(m["beats"] for m in margins.values()),
            "compared_mixtures": {r.name: dict(r.weights) for r in result.results},
            "interval_check": [{"name": c.name, "run_lower90": c.lower, "run_upper90": c.upper,
                                "values": list(c.values), "inside": c.inside}
                               for c in result.interval_checks],
            "interval_check_any_seed": [{"name": c.name, "run_lower90": c.lower,
                                         "run_upper90": c.upper, "values": list(c.values),
                                         "inside": c.inside} for c in result.any_seed_checks],
            "confirmation_check": confirmation_check(confirmed, values["recommended"]),
            "seed_loo": seed_loo(study_dir, study, result, study_seed),
            "trial_cost_s_mean": statistics.mean(costs)}


def confirmation_check(confirmed: dict | None, held_out: dict[int, float]) -> dict | None:
    """The tune's confirmation interval (one new run, any seed) against the recommendation's
    runs on seeds it never saw."""
    if not confirmed or confirmed.get("run_lower90") is None:
        return None
    lower, upper = confirmed["run_lower90"], confirmed["run_upper90"]
    return {"run_lower90": lower, "run_upper90": upper, "confirmed_values": confirmed["values"],
            "held_out": {str(s): v for s, v in held_out.items()},
            "inside": sum(lower <= v <= upper for v in held_out.values()),
            "runs": len(held_out)}


def seed_loo(study_dir: Path, study, result, study_seed: int) -> dict:
    """The confirmation's rule on every mixture here, one seed left out at a time: Student t
    from a mixture's other runs at the target (the study's own seed-0 run included when it has
    one) must hold the left-out run 90% of the time."""
    from admire.app.confirm import Confirmation, study_value
    from admire.app.evaluations import load_evaluations, weights_key
    from admire.schema import runs

    evaluations = load_evaluations(study_dir)
    inside = total = 0
    rows = []
    for r in result.results:
        key = weights_key(r.weights)
        values = {e.seed: e.value for e in evaluations
                  if weights_key(e.weights) == key and e.rung == result.rung}
        own = study_value(study.runs, runs.METRIC_PREFIX + study.metric, result.rung, r.weights)
        if own is not None:
            values[study_seed] = own
        hits = 0
        for seed, value in values.items():
            rest = {s: v for s, v in values.items() if s != seed}
            interval = Confirmation(result.rung, rest, None).run_interval()
            if interval is None:
                continue
            hit = interval[0] <= value <= interval[1]
            hits += hit
            inside += hit
            total += 1
        rows.append({"name": r.name, "seeds": sorted(values), "inside": hits})
    return {"inside": inside, "runs": total, "mixtures": rows}


def git_state() -> dict:
    """The commit measured, and the files that differed from it (the strategy moves fast)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True
                              ).stdout.strip()

    return {"head": git("rev-parse", "--short", "HEAD"),
            "modified": git("diff", "--name-only", "HEAD", "--", "admire").splitlines()}


def markdown(result: dict) -> str:
    d, lo, st, cmp_ = (result["dispatch"], result["loop"], result["study"],
                       result["comparison"])
    lines = [
        "# The default live study (`examples/local-cpu.toml`)"
        + (f", its [policy] with `{result['policy_variant']}`" if "policy_variant" in result
           else ""), "",
        f"{result['machine']}, torch {result['torch']}, {result['date']}, commit "
        f"{result['git']['head']}"
        + (f" with local changes to {', '.join(result['git']['modified'])}"
           if result["git"]["modified"] else "")
        + f". Load average at the end: {result['load_average']}.", "",
        "## Ray dispatch overhead (no-op trial, warm one-actor pool)", "",
        "| direct call | through the pool (median) | p90 | overhead | target | cold first "
        "trial (actor start) |", "|---|---|---|---|---|---|",
        f"| {d['direct_s'] * 1e6:.1f} us | {d['pool_median_s'] * 1e3:.1f} ms | "
        f"{d['pool_p90_s'] * 1e3:.1f} ms | {d['overhead_median_s'] * 1e3:.1f} ms | "
        f"<= {d['target_s']} s | {d['cold_first_trial_s']:.1f} s |", "",
        f"Tune loop with a trivial evaluator: {lo['trials']} trials in {lo['wall_s']:.1f} s "
        f"({lo['per_trial_s']:.2f} s per trial: proposal, record, atomic save, recommendation; "
        "includes start-up).", "",
        ("## Wall time of `admire tune examples/local-cpu.toml --out out/local`"
         if "policy_variant" not in result else "## Wall time of the variant's `admire tune`"),
        "",
        f"**{st['wall_s']:.0f} s** (limit {st['limit_s']} s), fresh HOME (corpora built, Ray "
        "set up)" + ("" if st.get("timed_from_outside", True) else
                     ": the tune's own wall time, start-up and corpora build not included")
        + f". Stopped: {st['stop_reason']}; spent {st['spent_target_runs']:.2f} target-rung"
        f" runs (1 unit = {st['cost_unit_s']:.0f} s); trials per rung: "
        + ", ".join(f"{k} {v['completed']}" for k, v in st["trials_per_rung"].items())
        + f"; failures: {st['failures']}.", "",
        "Recommended mixture: " + ", ".join(
            f"{k} {v:.3f}" for k, v in st["recommendation"]["mixture"].items()) + ".", "",
        f"## Recommended vs the references at {cmp_['rung']} ({len(cmp_['seeds'])} fresh "
        "seeds each)", "",
        f"Objective: {cmp_['objective']} (lower is better). The study trained every trial with "
        "seed 0 (the references too, at the start); these seeds are new to it.", "",
        "| mixture | " + " | ".join(f"seed {s}" for s in cmp_["seeds"]) + " | mean | sd |",
        "|---|" + "---|" * (len(cmp_["seeds"]) + 2)]
    for name, row in cmp_["mixtures"].items():
        lines.append(f"| {name} | " + " | ".join(f"{row['per_seed'][str(s)]:.4f}"
                                                 for s in cmp_["seeds"])
                     + f" | {row['mean']:.4f} | {row['sd']:.4f} |")
    lines += ["", "| reference | margin (its mean - recommended's) | seed spread (larger sd) | "
              "margin > spread | recommended better on every seed |", "|---|---|---|---|---|"]
    for name, m in cmp_["margins"].items():
        lines.append(f"| {name} | {m['margin']:+.4f} | {m['spread']:.4f} | {m['beats']} | "
                     f"{m['better_on_every_seed']} |")
    checks = cmp_.get("interval_check", [])
    if checks:
        inside = sum(c["inside"] for c in checks)
        runs = sum(len(c["values"]) for c in checks)
        lines += ["", "Live check of the study's 90% interval for one new run "
                  "(`Study.predict` at each mixture: run_lower90/run_upper90 with the "
                  "hyperparameters' uncertainty carried): "
                  f"**{inside}/{runs}** fresh-seed runs inside (calibrated: about 90%).", "",
                  "| mixture | 90% interval for a new run | fresh runs inside |", "|---|---|---|"]
        lines += [f"| {c['name']} | [{c['run_lower90']:.4f}, {c['run_upper90']:.4f}] | "
                  f"{c['inside']}/{len(c['values'])} |" for c in checks]
    widened = cmp_.get("interval_check_any_seed", [])
    if widened:
        inside = sum(c["inside"] for c in widened)
        runs = sum(len(c["values"]) for c in widened)
        lines += ["", "The same intervals widened to a run with any seed (`admire evaluate`'s "
                  "second check: the model's variance plus the seed variance pooled over the "
                  "*other* mixtures' runs at the target, Welch-Satterthwaite t): "
                  f"**{inside}/{runs}** inside.", "",
                  "| mixture | widened 90% interval | fresh runs inside |", "|---|---|---|"]
        lines += [f"| {c['name']} | [{c['run_lower90']:.4f}, {c['run_upper90']:.4f}] | "
                  f"{c['inside']}/{len(c['values'])} |" for c in widened]
    confirmed = cmp_.get("confirmation_check")
    if confirmed:
        values = ", ".join(f"{v:.4f} (seed {s})" for s, v in confirmed["confirmed_values"].items())
        held = ", ".join(f"{v:.4f} (seed {s})" for s, v in confirmed["held_out"].items())
        lines += ["", "## The tune's confirmation (`[study] confirm_seeds`)", "",
                  f"`admire tune` trained the recommendation at the target with fresh seeds after "
                  f"the budget: {values}. Its 90% interval for one new run with any seed "
                  f"(Student t over those runs, no model): [{confirmed['run_lower90']:.4f}, "
                  f"{confirmed['run_upper90']:.4f}]. Held-out seeds (never seen by the study or "
                  f"the confirmation): {held}: **{confirmed['inside']}/{confirmed['runs']} "
                  "inside**."]
    loo = cmp_.get("seed_loo")
    if loo and loo["runs"]:
        lines += ["", "The same rule on every mixture compared, one seed left out at a time "
                  "(the study's own target run included where it has one): "
                  f"**{loo['inside']}/{loo['runs']}** left-out runs inside "
                  f"({loo['inside'] / loo['runs']:.0%}; calibrated is about 90%): "
                  + ", ".join(f"{m['name']} {m['inside']}/{len(m['seeds'])}"
                              for m in loo["mixtures"]) + "."]
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench-tune-default")
    parser.add_argument("--reuse-study", action="store_true",
                        help="skip the study run; use the one already in --out")
    parser.add_argument("--dispatch-n", type=int, default=50)
    parser.add_argument("--loop-n", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--compare-rung", default=None, help="(smoke tests) compare at this rung")
    parser.add_argument("--policy", default="",
                        help="TOML lines added to the job's [policy] table (a variant of the "
                             "README job, e.g. 'confirm = \"ei\"'); its results go to --name")
    parser.add_argument("--name", default="tune_default", help="results file stem")
    args = parser.parse_args()
    args.out = args.out.resolve()  # the job's command line names the config relative to the repo
    if args.policy:
        use_variant(args.out, args.policy)
    torch.set_num_threads(1)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    config = load_config(CONFIG)
    settings = ProxySettings.from_config(config)
    corpora, sources = build_study_corpora(config, settings)
    source = CorporaSource.of(corpora, sources, settings.corpus, settings.cache_dir)
    args.out.mkdir(parents=True, exist_ok=True)

    if args.reuse_study:
        saved = args.out / "study_result.json"
        study = (json.loads(saved.read_text(encoding="utf-8")) if saved.exists()
                 else study_result(args.out / "study", None))
    else:
        study_out = args.out / "study"
        if study_out.exists():
            import shutil

            shutil.rmtree(study_out)
        study = default_study(study_out)  # alone on the machine: no other Ray work meanwhile
        (args.out / "study_result.json").write_text(json.dumps(study, indent=1))
    print(f"default study: {study['wall_s']:.0f} s, {study['stop_reason']}", flush=True)

    connection = connect()
    try:
        dispatch = dispatch_overhead(source, config, args.dispatch_n)
        print(f"dispatch overhead: {dispatch['overhead_median_s'] * 1e3:.1f} ms", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            loop = loop_overhead(Path(tmp), args.loop_n)
        print(f"loop: {loop['per_trial_s']:.2f} s per trial", flush=True)
        comparison = compare_at_target(Path(study.get("out", args.out / "study")),
                                       [ref["name"] for ref in study["references"]],
                                       args.seeds, settings.objective, args.compare_rung)
    finally:
        disconnect(connection)
    result = {"git": git_state(),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
              "torch": torch.__version__, "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "load_average": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
              "dispatch": dispatch, "loop": loop, "study": study, "comparison": comparison}
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.policy:
        result["policy_variant"] = args.policy
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    (RESULTS / f"{args.name}.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()

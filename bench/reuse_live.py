"""Reuse live: a real pool change on the built-in corpora, and what a warm start saves.

Study A ("before"): ``examples/local-cpu.toml`` without one domain (``--drop``, default
``scripture``, not a target of the objective) and with a smaller pool (``[proxy.corpus]
max_bytes`` ``--bytes-a``). Study B ("after"): all six domains, the pool grown to ``--bytes-b``,
in three arms with the same budget and seed:

- ``scratch``: no warm start (the example as it is, apart from budget and seed);
- ``warm``: the default policy with ``[[warm_start]] source = A, added = [DROP]``;
- ``reuse``: policy ``reuse`` (Olmix-style) with the same warm start.

Each study runs as a user runs it (``python -m admire tune CONFIG --out DIR``, a subprocess,
timed). Then every arm's recommendation is retrained at the target rung with fresh seeds
(``admire evaluate``'s code, seeds proxy seed + 1 .. + N, on B's pool), beside B's uniform mixture.

Cost is what the study charges its budget: observed seconds per trial (CPU seconds on a CPU
since commit 466ec94; wall seconds when reuse_live.md was measured) over the target
rung's ``cost_estimate`` (target-run units; ``spent``). Wall seconds moved with the load, so the
nominal cost (each trial's rung ``fidelity``, 1 per target run) is reported beside it and
the saving is computed on it. The saving: the nominal cost at which an arm first observed, at the
target rung, an objective at least as good as the best scratch observed there in its whole run
(all arms train with the same proxy seed, so their observed values are comparable run for run),
against the cost at which scratch itself first reached that value (and against scratch's total).

Budgets (target-run units, charged by observed time): A 8, B 10 by default. The two
reference mixtures every study trains first at the target take about 2 units each when the 2-core
machine is shared (about 150 s against the 80 s estimate), so a budget of 7 leaves room for at
most one confirmation, and whether it fits depends on the load (so it was with wall seconds;
CPU seconds hardly move with the load, bench/results/trial_cost.md).

    PYTHONPATH=. python bench/reuse_live.py [--seeds 0] [--eval-seeds 2]   # ~36 min, 2 cores
    -> bench/results/reuse_live.json, .md (sections per (seed, budgets) are merged across runs)

Finished studies in ``--out`` are kept (a rerun skips them; an unfinished one is resumed), so
``--eval-seeds 0`` with the budgets of an earlier run only re-reads it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_default import git_state  # noqa: E402  (bench helper, not a package)

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples" / "local-cpu.toml"
RESULTS = REPO / "bench" / "results"
ARMS = ("scratch", "warm", "reuse")


# --- configs -------------------------------------------------------------------------------------


def _sub(pattern: str, repl: str, text: str) -> str:
    new, n = re.subn(pattern, repl, text, count=1, flags=re.MULTILINE)
    if n != 1:
        raise SystemExit(f"examples/local-cpu.toml changed: no line matches {pattern!r}")
    return new


def study_config(*, name: str, budget: float, seed: int, max_bytes: int, drop: str | None,
                 policy: str = "screen-confirm", warm_from: Path | None = None,
                 added: str | None = None) -> str:
    """``examples/local-cpu.toml`` with the study's changes, as TOML text."""
    text = CONFIG.read_text(encoding="utf-8")
    text = _sub(r'^name = "local-cpu"', f'name = "{name}"', text)
    text = _sub(r"^budget = .*$", f"budget = {budget}", text)
    text = _sub(r"^seed = 0 .*seeds every proposal.*$", f"seed = {seed}", text)
    text = _sub(r'^path = "\.\./fidelities/cpu-tiny\.toml"',
                f'path = "{REPO / "fidelities" / "cpu-tiny.toml"}"', text)
    text = _sub(r"^max_bytes = .*$", f"max_bytes = {max_bytes}", text)
    if drop is not None:
        text = _sub(rf'^\[\[domain\]\]\nname = "{drop}"\n(max_epochs = .*\n)?\n', "", text)
    if policy != "screen-confirm":
        text = _sub(r'^name = "screen-confirm".*$', f'name = "{policy}"', text)
        text = _sub(r"^initial_trials = .*$", "", text)  # reuse: the prior runs fit a model
    if warm_from is not None:
        text += (f'\n[[warm_start]]\nsource = "{warm_from}"\n'
                 + (f'added = ["{added}"]\n' if added else ""))
    return text


def run_study(config_text: str, out: Path) -> dict:
    """``admire tune`` in a subprocess; skipped if ``out`` holds a finished study."""
    done = out / "recommendation.json"
    if done.exists():
        saved = out / "bench_wall.json"
        wall = json.loads(saved.read_text())["wall_s"] if saved.exists() else None
        return {"out": str(out), "wall_s": wall, "skipped": True}
    config = out.parent / f"{out.name}.toml"
    config.write_text(config_text, encoding="utf-8")
    cmd = [sys.executable, "-m", "admire", "tune", str(config), "--out", str(out)]
    if (out / "study.json").exists():
        cmd.append("--resume")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, RAY_AUTH_MODE="disabled"))
    wall = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    (out / "tune.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        raise SystemExit(f"admire tune {config} failed ({proc.returncode}):\n"
                         f"{(proc.stdout + proc.stderr)[-3000:]}")
    (out / "bench_wall.json").write_text(json.dumps({"wall_s": wall}))
    return {"out": str(out), "wall_s": wall, "skipped": False}


# --- measures ------------------------------------------------------------------------------------


def trajectory(out: Path) -> dict:
    """The study's trials in the order they finished: cumulative cost (charged and nominal),
    rung, and the best target-rung objective seen so far."""
    rec = json.loads((out / "recommendation.json").read_text(encoding="utf-8"))
    table = pd.read_parquet(out / "runs.parquet")
    table = table[table["status"] == "completed"].sort_values("finished_at")
    target = list(rec["trials_per_rung"])[-1]
    unit = float(rec["cost_unit"])
    rows, charged, nominal, best = [], 0.0, 0.0, None
    for _, r in table.iterrows():
        charged += float(r["cost"]) / unit
        nominal += float(r["fidelity"])
        value = float(r["m:objective"])
        if r["rung"] == target and (best is None or value < best):
            best = value
        rows.append({"trial": r["run_id"], "rung": r["rung"], "objective": value,
                     "charged": charged, "nominal": nominal, "best_target": best})
    prior = out / "prior_runs.json"
    return {"target": target, "trials": len(rows),
            "trials_per_rung": {k: v["completed"] for k, v in rec["trials_per_rung"].items()},
            "spent_charged": rec["spent_target_runs"], "spent_nominal": nominal,
            "best_target": best, "prior_runs": (len(json.loads(prior.read_text())["y"])
                                                if prior.exists() else 0),
            "recommendation": rec["recommendation"], "stop_reason": rec["stop_reason"],
            "policy": rec["policy"]["name"], "rows": rows}


def cost_to_reach(traj: dict, value: float, key: str = "nominal") -> float | None:
    """Cumulative cost at the first target-rung trial with objective <= ``value``."""
    for row in traj["rows"]:
        if row["rung"] == traj["target"] and row["objective"] <= value + 1e-12:
            return row[key]
    return None


def savings(trajs: dict[str, dict]) -> dict:
    scratch = trajs["scratch"]
    goal = scratch["best_target"]
    own = cost_to_reach(scratch, goal)
    out = {"goal": goal, "scratch_cost_to_goal": own, "scratch_total": scratch["spent_nominal"]}
    for arm in ("warm", "reuse"):
        cost = cost_to_reach(trajs[arm], goal)
        out[arm] = {"cost_to_goal": cost,
                    "saved_vs_scratch_to_goal": None if cost is None else 1 - cost / own,
                    "saved_vs_scratch_total": (None if cost is None
                                               else 1 - cost / scratch["spent_nominal"]),
                    "trials_to_goal": (None if cost is None else
                                       next(i + 1 for i, r in enumerate(trajs[arm]["rows"])
                                            if r["nominal"] == cost))}
    out["scratch_trials_to_goal"] = next(i + 1 for i, r in enumerate(scratch["rows"])
                                         if r["nominal"] == own)
    return out


def retrain(arms: dict[str, Path], n_seeds: int, rung: str | None) -> dict:
    """Every arm's recommendation and B's uniform mixture at the target, fresh seeds (on the
    scratch arm's study: B's domains and pool)."""
    from admire.app.evaluate import evaluate

    specs = [f"{arm}:{out / 'recommendation.json'}" for arm, out in arms.items()] + ["uniform"]
    result = evaluate(arms["scratch"], specs, n_seeds, rung=rung)
    if result.failures:
        raise SystemExit("retraining failed: " + "; ".join(result.failures))
    return {"rung": result.rung, "seeds": result.seeds,
            "mixtures": {r.name: {"per_seed": {str(s): r.values[s] for s in result.seeds},
                                  "mean": r.mean,
                                  "sd": r.sd if len(result.seeds) > 1 else 0.0,
                                  "weights": dict(r.weights)} for r in result.results}}


# --- report --------------------------------------------------------------------------------------


def _f(x: float | None, fmt: str = ".2f") -> str:
    return "-" if x is None else format(x, fmt)


def markdown(result: dict) -> str:
    lines = ["# Reuse live: a domain added and the pool grown, on the built-in corpora", "",
             f"{result['machine']}, {result['date']}, commit {result['git']['head']}"
             + (f" with local changes to {', '.join(result['git']['modified'])}"
                if result["git"]["modified"] else "")
             + f". Load average at the end: {result['load_average']}.", "",
             "Commands (each adds or replaces its (seed, budgets) section): "
             + "; ".join(f"`{c}`" for c in result["commands"]) + ".", "",
             result["setup"], ""]
    for rep in result["repeats"]:
        seed, a, trajs, sv = rep["seed"], rep["study_a"], rep["arms"], rep["savings"]
        lines += [f"## Study seed {seed}, budget A {rep['budget_a']:g}, B {rep['budget_b']:g} "
                  "target runs", "",
                  f"Study A ({a['trials']} trials, {_f(a['spent_nominal'])} nominal / "
                  f"{_f(a['spent_charged'])} charged target runs, wall "
                  f"{_f(rep['walls']['A'], '.0f')} s): best target-rung objective "
                  f"{_f(a['best_target'], '.4f')}.", "",
                  "| arm | policy | prior runs | trials (per rung) | charged cost | nominal cost "
                  "| wall s | best target-rung objective (seed 0) |",
                  "|---|---|---|---|---|---|---|---|"]
        for arm in ARMS:
            t = trajs[arm]
            lines.append(f"| {arm} | {t['policy']} | {t['prior_runs']} | {t['trials']} ("
                         + ", ".join(f"{v}" for v in t["trials_per_rung"].values())
                         + f") | {_f(t['spent_charged'])} | {_f(t['spent_nominal'])} | "
                         f"{_f(rep['walls'][arm], '.0f')} | {_f(t['best_target'], '.4f')} |")
        lines += ["", f"Goal: scratch's best observed target-rung objective, "
                  f"{_f(sv['goal'], '.4f')}; scratch first reached it at nominal cost "
                  f"{_f(sv['scratch_cost_to_goal'])} (trial {sv['scratch_trials_to_goal']}) "
                  f"of {_f(sv['scratch_total'])}.", "",
                  "| arm | nominal cost to the goal | trials to the goal | saved vs scratch's "
                  "cost to the goal | saved vs scratch's total |", "|---|---|---|---|---|"]
        for arm in ("warm", "reuse"):
            s = sv[arm]
            lines.append(f"| {arm} | {_f(s['cost_to_goal'])} | {s['trials_to_goal'] or '-'} | "
                         f"{_f(s['saved_vs_scratch_to_goal'], '.0%')} | "
                         f"{_f(s['saved_vs_scratch_total'], '.0%')} |")
        ev = rep["retrain"]
        if ev is None:
            lines += ["", "Recommendations: " + "; ".join(
                f"{arm}: " + ", ".join(f"{d[:4]} {w:.2f}" for d, w in
                                       trajs[arm]["recommendation"]["mixture"].items())
                for arm in ARMS) + " (not retrained).", ""]
            continue
        lines += ["", f"Recommendations retrained at {ev['rung']} with fresh seeds "
                  f"{', '.join(map(str, ev['seeds']))} (lower is better):", "",
                  "| mixture | " + " | ".join(f"seed {s}" for s in ev["seeds"])
                  + " | mean | sd | weights |", "|---|" + "---|" * (len(ev["seeds"]) + 3)]
        for name, m in ev["mixtures"].items():
            lines.append(f"| {name} | " + " | ".join(f"{m['per_seed'][str(s)]:.4f}"
                                                    for s in ev["seeds"])
                         + f" | {m['mean']:.4f} | {m['sd']:.4f} | "
                         + ", ".join(f"{d[:4]} {w:.2f}" for d, w in m["weights"].items()) + " |")
        lines.append("")
    lines += ["## Reading", "", result.get("reading", ""), ""]
    return "\n".join(lines)


SETUP = ("A: 5 domains (no `{drop}`), `max_bytes` {bytes_a}. "
         "B: 6 domains, `max_bytes` {bytes_b}, three arms with the same budget and "
         "study seed: `scratch`, `warm` (default policy, `[[warm_start]] source = A, added = "
         "[\"{drop}\"]`), `reuse` (policy `reuse`, same warm start). Ladder "
         "fidelities/cpu-tiny.toml, objective mean validation loss on dialogue, legal, math; every "
         "trial trains with proxy seed 0. Charged cost: observed seconds / 80 s (what the budget "
         "counts; moves with machine load); nominal cost: rung fidelity (0.075 / 0.2125 / 1).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench-reuse-live")
    parser.add_argument("--seeds", default="0", help="study seeds, comma-separated")
    parser.add_argument("--drop", default="scripture")
    parser.add_argument("--bytes-a", type=int, default=500_000)
    parser.add_argument("--bytes-b", type=int, default=2_000_000)
    parser.add_argument("--budget-a", type=float, default=8.0)
    parser.add_argument("--budget-b", type=float, default=10.0)
    parser.add_argument("--eval-seeds", type=int, default=2, help="0: no retraining")
    parser.add_argument("--eval-rung", default=None, help="(smoke tests) retrain at this rung")
    parser.add_argument("--reading", default="", help="the note under the tables")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    t0 = time.perf_counter()
    repeats = []
    for seed in (int(s) for s in args.seeds.split(",")):
        root = args.out / f"seed{seed}"
        root.mkdir(parents=True, exist_ok=True)
        walls = {}
        a_dir = root / f"A-b{args.budget_a:g}"
        walls["A"] = run_study(study_config(name="reuse-live-a", budget=args.budget_a, seed=seed,
                                            max_bytes=args.bytes_a, drop=args.drop),
                               a_dir)["wall_s"]
        print(f"seed {seed}: A done", flush=True)
        dirs = {arm: root / f"{arm}-b{args.budget_b:g}" for arm in ARMS}
        b = {"name": "reuse-live-b", "budget": args.budget_b, "seed": seed,
             "max_bytes": args.bytes_b, "drop": None}
        texts = {"scratch": study_config(**b),
                 "warm": study_config(**b, warm_from=a_dir, added=args.drop),
                 "reuse": study_config(**b, policy="reuse", warm_from=a_dir, added=args.drop)}
        for arm in ARMS:
            walls[arm] = run_study(texts[arm], dirs[arm])["wall_s"]
            print(f"seed {seed}: {arm} done", flush=True)
        trajs = {arm: trajectory(d) for arm, d in dirs.items()}
        ev = None
        if args.eval_seeds > 0:
            from admire.evaluators.ray.connect import connect, disconnect

            connection = connect()
            try:
                ev = retrain(dirs, args.eval_seeds, args.eval_rung)
            finally:
                disconnect(connection)
            print(f"seed {seed}: retrained", flush=True)
        repeats.append({"seed": seed, "budget_a": args.budget_a, "budget_b": args.budget_b,
                        "walls": walls, "study_a": trajectory(a_dir), "arms": trajs,
                        "savings": savings(trajs), "retrain": ev})
    argv = sys.argv[1:]
    if "--reading" in argv:  # the note is not part of the measurement
        i = argv.index("--reading")
        argv = argv[:i] + argv[i + 2:]
    command = ("PYTHONPATH=. python bench/reuse_live.py " + " ".join(argv)).strip()
    saved = RESULTS / "reuse_live.json"
    earlier = json.loads(saved.read_text(encoding="utf-8")) if saved.exists() else {}

    def key(r: dict) -> tuple:
        return r["seed"], r["budget_a"], r["budget_b"]

    retrained = {key(r): r["retrain"] for r in earlier.get("repeats", [])}
    for r in repeats:  # --eval-seeds 0 keeps an earlier retraining of the same studies
        r["retrain"] = r["retrain"] or retrained.get(key(r))
    keys = {key(r) for r in repeats}
    kept = [r for r in earlier.get("repeats", []) if key(r) not in keys]
    repeats = sorted(kept + repeats, key=lambda r: (-r["budget_b"], r["seed"]))
    commands = [c for c in earlier.get("commands", []) if c != command] + [command]
    result = {"git": git_state(), "commands": commands,
              "setup": SETUP.format(drop=args.drop, bytes_a=args.bytes_a, bytes_b=args.bytes_b),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
              "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "load_average": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
              "wall_s": time.perf_counter() - t0, "reading": args.reading or earlier.get(
                  "reading", ""), "repeats": repeats}
    RESULTS.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(result, indent=1), encoding="utf-8")
    (RESULTS / "reuse_live.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))

if __name__ == "__main__":
    main()

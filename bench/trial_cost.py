"""What one trial costs, alone and on a loaded machine: wall seconds against CPU seconds.

A study's budget is charged each trial's measured cost. Wall seconds on a 2-core machine shared
with other work (a CI run, a second study) stretch with the load, so a loaded machine buys fewer
trials and the study's answer changes with whatever else was running (the README job once got 3
target runs instead of 9 that way and lost to its references). The CPU seconds of the trial's
process measure what it consumed. This bench trains every rung of a ladder on the uniform mixture
alone, then with ``--hogs`` busy single-threaded processes beside it (numpy matmuls, like a test
suite), and reports both clocks side by side: the numbers behind ``cost_estimate`` in
``fidelities/cpu-tiny.toml`` and behind charging CPU seconds on a CPU.

    .venv/bin/python bench/trial_cost.py                 # writes bench/results/trial_cost.*
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_throughput import load_specs  # noqa: E402

from admire.proxy.corpora import BUILTIN_DOMAINS, CorpusConfig, build_corpora  # noqa: E402
from admire.proxy.train import train_proxy  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
HOG = ("import numpy as np\n"
       "a = np.random.default_rng(0).random((400, 400))\n"
       "while True:\n"
       "    a = a @ a\n"
       "    a /= abs(a).max()\n")


@contextmanager
def hogs(n: int) -> Iterator[None]:
    """``n`` busy processes for the duration (one thread each)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", HOG], env=env) for _ in range(n)]
    try:
        time.sleep(1.0)  # let them start
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def measure(name: str, spec, corpora, weights, objective, load: int, repeat: int) -> dict:
    result = train_proxy(corpora, weights, spec, seed=0, objective=objective)
    row = {"rung": name, "load": load, "repeat": repeat, "wall_s": round(result.wall_seconds, 2),
           "cpu_s": round(result.cpu_seconds, 2), "charged_s": round(result.cost, 2),
           "objective": round(result.objective, 4), "load_avg_1m": round(os.getloadavg()[0], 2)}
    print(json.dumps(row), flush=True)
    return row


def summarise(rows: list[dict]) -> list[dict]:
    """Median per rung and load, and each clock's ratio loaded / alone."""
    out = []
    for rung in dict.fromkeys(r["rung"] for r in rows):
        med = {}
        for load in sorted({r["load"] for r in rows}):
            mine = [r for r in rows if r["rung"] == rung and r["load"] == load]
            med[load] = {k: statistics.median(r[k] for r in mine) for k in ("wall_s", "cpu_s")}
        alone, loaded = med[min(med)], med[max(med)]
        out.append({"rung": rung, "alone": alone, "loaded": loaded,
                    "wall_ratio": round(loaded["wall_s"] / alone["wall_s"], 3),
                    "cpu_ratio": round(loaded["cpu_s"] / alone["cpu_s"], 3)})
    return out


def loads(result: dict, loaded: bool) -> str:
    values = [r["load_avg_1m"] for r in result["rows"] if (r["load"] > 0) == loaded]
    return f"{min(values):.1f}-{max(values):.1f}"


def report(result: dict) -> str:
    lines = ["# What one trial costs, alone and beside busy processes", "",
             f"{result['machine']}, torch {result['torch']}, {result['date']}, one torch thread "
             f"per trial, uniform mixture, seed 0, {result['repeats']} run(s) per cell "
             f"(medians). Loaded: {result['hogs']} busy single-threaded numpy processes beside "
             f"the trial. One-minute load average over the runs: alone {loads(result, False)}, "
             f"loaded {loads(result, True)} (anything else running on the machine counts too)."
             "", "", f"Command: `{result['command']}`", "",
             "| rung | wall s alone | wall s loaded | wall ratio | CPU s alone | CPU s loaded "
             "| CPU ratio |", "|---|---|---|---|---|---|---|"]
    for s in result["summary"]:
        lines.append(f"| {s['rung']} | {s['alone']['wall_s']:.1f} | {s['loaded']['wall_s']:.1f} "
                     f"| {s['wall_ratio']:.2f} | {s['alone']['cpu_s']:.1f} | "
                     f"{s['loaded']['cpu_s']:.1f} | {s['cpu_ratio']:.2f} |")
    lines += ["", "Wall seconds stretch with the load; the process's CPU seconds barely move. A "
              "study on a CPU is charged CPU seconds (`ProxyResult.cost`), so its budget buys "
              "about the same trials on a loaded machine as on an idle one; mostly the wall time "
              "grows. "
              "`cost_estimate` in `fidelities/cpu-tiny.toml` is the CPU seconds alone.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ladder", default="cpu-tiny")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--hogs", type=int, default=3, help="busy processes in the loaded runs")
    ap.add_argument("--max-bytes", type=int, default=2_000_000, help="text per domain")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the md from the json of an earlier run")
    args = ap.parse_args()
    if args.report_only:
        result = json.loads((RESULTS / "trial_cost.json").read_text())
        (RESULTS / "trial_cost.md").write_text(report(result))
        print(report(result))
        return
    torch.set_num_threads(1)
    corpora = build_corpora(list(BUILTIN_DOMAINS), CorpusConfig(max_bytes=args.max_bytes))
    specs = load_specs(args.ladder)
    weights = {n: 1 / len(corpora.names) for n in corpora.names}
    objective = {"mean_over": ["dialogue", "legal", "math"]}
    first = next(iter(specs.values()))
    train_proxy(corpora, weights, first, seed=0, objective=objective)  # warm-up: imports, caches
    rows = []
    for load in (0, args.hogs):
        with hogs(load):
            for repeat in range(args.repeats):
                for name, spec in specs.items():
                    rows.append(measure(name, spec, corpora, weights, objective, load, repeat))
    result = {"benchmark": "trial_cost", "ladder": args.ladder, "repeats": args.repeats,
              "hogs": args.hogs, "rows": rows, "summary": summarise(rows),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
              "torch": torch.__version__, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "command": " ".join(["python bench/trial_cost.py", *sys.argv[1:]])}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "trial_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "trial_cost.md").write_text(report(result))
    print(report(result))


if __name__ == "__main__":
    main()

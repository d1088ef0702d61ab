"""BoTorch's fused qLogNEHVI C++ kernel against its pure-PyTorch path, for admire's mobo.

BoTorch 0.18 compiles the kernel (ninja, ``-march=native``) the first time a qLogNEHVI is built
in a process whose torch-extensions cache lacks it. Each mode runs in its own process on the
multi-objective replay of ADMIRE IFT Runs (the studies of ``bench/mo_replay.py``, same seeds):

* ``fused-cold``: an empty extensions cache, as on a fresh machine, cluster head or CI run;
* ``fused-warm``: the cache the cold run filled;
* ``pure``: admire's default (``admire.bo.mo_acquisition.skip_fused_kernel``).

Reported: the kernel's load (compile) time, seconds per study, and whether each seed's studies
pick the same runs and end on the same regret as the pure path's.

    python bench/nehvi_kernel.py [--seeds 6] [--budget 10]

Writes bench/results/nehvi_kernel.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
MODES = ("fused-cold", "fused-warm", "pure")


def worker(mode: str, seeds: int, budget: float) -> dict[str, Any]:
    """One mode's studies in this process (the kernel's state is per process)."""
    import warnings

    import mo_replay
    import torch
    from botorch.acquisition.multi_objective import logei

    from admire.bo import mo_acquisition  # noqa: F401  (marks the kernel as tried)
    from admire.bo.policies.registry import parse_policy
    from admire.replay.mo import MOReplayProblem, replay_mo_one
    from admire.schema import runs

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    load_s = 0.0
    if mode != "pure":
        logei._load_attempted = False
        start = time.perf_counter()
        logei._try_load_fused_kernel()
        load_s = time.perf_counter() - start
        if logei._C is None:
            raise RuntimeError("the fused kernel did not load: no compiler or ninja here")
    problem = MOReplayProblem.from_table(runs.read_runs(mo_replay.TABLE), mo_replay.OBJECTIVES)
    studies = []
    for seed in range(seeds):
        result = replay_mo_one(problem, parse_policy("mobo"), seed, budget)
        studies.append({"seed": seed, "seconds": result.seconds,
                        "picks": result.picks_per_rung,
                        "curve": [[float(c[0]), float(c[1])] for c in result.curve]})
    return {"mode": mode, "kernel_loaded": logei._C is not None, "load_seconds": load_s,
            "studies": studies}


def run_mode(mode: str, seeds: int, budget: float, cache: Path) -> dict[str, Any]:
    env = dict(os.environ, TORCH_EXTENSIONS_DIR=str(cache),
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parent),
                                           os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--worker", mode, "--seeds", str(seeds),
                           "--budget", str(budget)], env=env, check=True, capture_output=True,
                          text=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["process_seconds"] = time.perf_counter() - start
    print(f"{mode}: load {out['load_seconds']:.1f} s, process {out['process_seconds']:.1f} s",
          flush=True)
    return out


def report(modes: dict[str, dict[str, Any]], command: str) -> list[str]:
    pure = {s["seed"]: s for s in modes["pure"]["studies"]}
    lines = ["# BoTorch's fused qLogNEHVI kernel vs pure PyTorch (mobo, ADMIRE IFT replay)", "",
             "| mode | kernel load s | process s | median s per study | same picks and curve "
             "as pure | final HV regret (median) |", "|---|---|---|---|---|---|"]
    for name, out in modes.items():
        studies = out["studies"]
        same = sum(s["picks"] == pure[s["seed"]]["picks"]
                   and s["curve"] == pure[s["seed"]]["curve"] for s in studies)
        seconds = sorted(s["seconds"] for s in studies)
        finals = sorted(s["curve"][-1][1] for s in studies)
        lines.append(f"| {name} | {out['load_seconds']:.1f} | {out['process_seconds']:.1f} | "
                     f"{seconds[len(seconds) // 2]:.1f} | {same}/{len(studies)} | "
                     f"{finals[len(finals) // 2]:.4g} |")
    lines += ["", f"Command: `{command}` on {platform.platform()} (shared 2-core machine, one "
              "torch thread). Each mode is one process; fused-cold starts from an empty "
              "TORCH_EXTENSIONS_DIR, fused-warm reuses what it built."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--budget", type=float, default=10.0)
    parser.add_argument("--worker", choices=MODES)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.seeds, args.budget)))
        return
    with tempfile.TemporaryDirectory() as cache:
        modes = {m: run_mode(m, args.seeds, args.budget, Path(cache)) for m in MODES}
    command = f"python bench/nehvi_kernel.py --seeds {args.seeds} --budget {args.budget:g}"
    lines = report(modes, command)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "nehvi_kernel.json").write_text(json.dumps(
        {"command": command, "modes": modes}, indent=1))
    (RESULTS / "nehvi_kernel.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

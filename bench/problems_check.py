"""Check every synthetic preset against its spec, and time generation at K = 100, 2,000 rows.

Per preset and seed: K, rungs, rows per rung, realised cost ratio, requested vs realised Spearman
of each cheaper rung with the target (noiseless over the shared target mixtures, noiseless over
all of the rung's mixtures, and as a user would measure it from the noisy table), noise, where
the optimum lies (interior/face, smallest weight), how far the table's best and the uniform
mixture are from it, and generation seconds. ADMIRE IFT Runs' measured Spearman is printed
beside, for comparison with ``k19-admire-like``.

Writes bench/results/problems_check.json. Run: python bench/problems_check.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from admire.problems import ADMIRE_TABLE, ladder_order
from admire.problems.presets import PRESETS
from admire.problems.synthetic import SyntheticProblem, SyntheticSpec, generate
from admire.schema import runs

OUT = Path(__file__).parent / "results"
SPEED_SPEC = SyntheticSpec(k=100, rows_per_rung=(1500, 400, 100), cost_ratio=100.0,
                           rank_corr=0.6, noise=0.2)  # 2,000 rows


def _noisy_shared_corr(table, objective: str, rungs: tuple[str, ...]) -> list[float]:
    """Spearman of each cheaper rung with the target over shared mixtures, from the table."""
    keys = runs.mixture_keys(table)
    by_rung = {r: table[table[runs.RUNG] == r].groupby(keys)[objective].mean() for r in rungs}
    target = by_rung[rungs[-1]]
    out = []
    for r in rungs[:-1]:
        shared = target.index.intersection(by_rung[r].index)
        out.append(float(spearmanr(by_rung[r][shared], target[shared])[0]))
    return out


def _rounded(values) -> list[float]:
    return [round(float(v), 4) for v in values]


def check(name: str, problem: SyntheticProblem, seconds: float) -> dict:
    spec, table = problem.spec, problem.table
    costs = table.groupby(runs.RUNG)[runs.COST].mean()
    pool = table[table[runs.RUNG] == problem.rungs[0]]
    pool_w = pool[runs.weight_columns(pool)].to_numpy()
    target_sd = float(np.std(problem.truth(pool_w)))
    target_rows = table[table[runs.RUNG] == problem.rungs[-1]]
    best_row = float(problem.truth(target_rows[runs.weight_columns(table)].to_numpy()).min())
    w = problem.optimum_weights
    uniform = float(problem.truth(np.full(spec.k, 1.0 / spec.k)))
    return {
        "preset": name, "seed": problem.seed, "k": spec.k, "rungs": spec.n_rungs,
        "mixtures_per_rung": list(spec.rows_per_rung), "replicates": spec.replicates,
        "rows_per_rung": [int((table[runs.RUNG] == r).sum()) for r in problem.rungs],
        "cost_ratio_requested": spec.cost_ratio,
        "cost_ratio_realised": round(float(costs[problem.rungs[-1]] / costs[problem.rungs[0]]),
                                     6),
        "corr_requested": _rounded(spec.requested_corr()),
        "corr_shared_noiseless": _rounded(problem.shared_corr),
        "corr_rung_pool_noiseless": _rounded(problem.realised_corr),
        "corr_shared_noisy_table": _rounded(
            _noisy_shared_corr(table, problem.objective, problem.rungs)),
        "noise": spec.noise, "noise_sd_per_rung": [float(f"{s:.4g}") for s in problem.noise_sd],
        "optimum": spec.optimum, "n_zero_weights": int(np.sum(w == 0)),
        "min_weight_nonzero": float(f"{w[w > 0].min():.4g}"),
        "max_weight": round(float(w.max()), 4),
        "optimum_value": round(problem.optimum_value, 5),
        "best_table_gap_sd": round((best_row - problem.optimum_value) / target_sd, 4),
        "uniform_gap_sd": round((uniform - problem.optimum_value) / target_sd, 4),
        "kkt_stationarity": float(f"{problem.kkt_residuals[0]:.3g}"),
        "kkt_dual": (None if math.isinf(problem.kkt_residuals[1])
                     else float(f"{problem.kkt_residuals[1]:.3g}")),
        "generation_s": round(seconds, 3),
    }


def timed(spec: SyntheticSpec, seed: int, name: str) -> tuple[SyntheticProblem, float]:
    start = time.perf_counter()
    problem = generate(spec, seed, name)
    return problem, time.perf_counter() - start


def admire_reference() -> dict:
    table = runs.read_runs(ADMIRE_TABLE)
    rungs = ladder_order(table)
    return {"rungs": list(rungs),
            "corr_shared_noisy_table": _rounded(_noisy_shared_corr(table, "m:avg_id+ood", rungs))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    generate(PRESETS["k3-easy"], 0, "warm-up")  # imports and first-call costs out of the timings
    results = []
    for name, spec in PRESETS.items():
        for seed in range(args.seeds):
            results.append(check(name, *timed(spec, seed, name)))
            r = results[-1]
            print(f"{name:28s} s{seed} K={r['k']:3d} rows={r['rows_per_rung']} "
                  f"ratio={r['cost_ratio_realised']:.4g} corr req={r['corr_requested']} "
                  f"shared={r['corr_shared_noiseless']} pool={r['corr_rung_pool_noiseless']} "
                  f"noisy={r['corr_shared_noisy_table']} {r['optimum']} "
                  f"min_w={r['min_weight_nonzero']:.3g} zeros={r['n_zero_weights']} "
                  f"best_gap={r['best_table_gap_sd']:.3f}sd t={r['generation_s']:.2f}s")
    speed = [timed(SPEED_SPEC, seed, "speed")[1] for seed in range(args.seeds)]
    rows = sum(SPEED_SPEC.rows_per_rung)
    print(f"K=100, {rows} rows: median {statistics.median(speed):.2f}s, max {max(speed):.2f}s")
    reference = admire_reference()
    print(f"ADMIRE IFT Runs avg_id+ood, measured Spearman vs 7B: "
          f"{reference['corr_shared_noisy_table']}")
    OUT.mkdir(exist_ok=True)
    payload = {
        "presets": results,
        "speed": {"k": SPEED_SPEC.k, "rows": rows, "seconds": [round(s, 3) for s in speed],
                  "median_s": round(statistics.median(speed), 3),
                  "max_s": round(max(speed), 3), "limit_s": 5.0},
        "admire_reference": reference,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_avg_1m": round(os.getloadavg()[0], 2)},
    }
    (OUT / "problems_check.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {OUT / 'problems_check.json'}")


if __name__ == "__main__":
    main()

"""Time one BO step the way a growing study runs it, at n = 50 ... 2,000 observations, K = 19.

A step: a new observation arrives; the policy's surrogate is brought up to date (hyperparameters
refitted only when the schedule says so, else the GP rebuilt on all data with the last ones),
the discrete multi-fidelity KG scores the open candidates, and the recommendation is made. Also
a cold fit (no previous hyperparameters) at n = 200.

Writes bench/results/bo_step.json and .md. Run: python bench/bo_step.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from admire.bo.acquisition import best_predicted, knowledge_gradient
from admire.bo.fitting import SurrogateFit
from admire.bo.history import Observations
from admire.bo.surrogate import MixtureSurrogate

K, RUNGS = 19, (0.18, 0.48, 1.0)
CANDIDATES, TARGETS = 500, 76
OUT = Path(__file__).parent / "results"


def observations(n: int, rng: np.random.Generator) -> Observations:
    """A smooth mixture response with rung-dependent level and bias; mostly cheap runs."""
    w = rng.dirichlet(np.ones(K), size=n)
    rung = rng.choice(3, size=n, p=[0.8, 0.1, 0.1])
    base = -np.sum((w - 1.0 / K) ** 2, axis=1) + 0.3 * w[:, 0]
    y = 0.3 + 0.1 * rung + base + 0.02 * rung * w[:, 1] + rng.normal(0, 0.002, n)
    return Observations(w, rung, y, np.ones(n))


def prefix(obs: Observations, n: int) -> Observations:
    return Observations(obs.weights[:n], obs.rung[:n], obs.y[:n], obs.cost[:n])


def step(fit: SurrogateFit, obs: Observations, cand_w: np.ndarray, cand_r: np.ndarray,
         targets: np.ndarray, kind: str) -> tuple[float, bool]:
    """``kg``: score every open (mixture, rung) by the MF knowledge gradient; ``mean``: rank the
    open target mixtures by posterior mean (the default's confirmation). Then recommend."""
    start = time.perf_counter()
    refit = fit.due(obs)
    surrogate = fit.fit(obs)
    if kind == "kg":
        knowledge_gradient(surrogate, cand_w, cand_r, targets, 2)
    else:
        surrogate.predict(cand_w, 2)
    best_predicted(surrogate, targets, 2)
    return time.perf_counter() - start, refit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--sizes", default="50,200,500,1000,2000")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    sizes = [int(s) for s in args.sizes.split(",")]
    obs = observations(max(sizes) + args.repeats, rng)
    cand_w = rng.dirichlet(np.ones(K), size=CANDIDATES)
    cand_r = rng.choice(3, size=CANDIDATES)
    targets = cand_w[:TARGETS]
    results = []
    cold = SurrogateFit(MixtureSurrogate("icm"), RUNGS, seed=0)
    start = time.perf_counter()
    cold.fit(prefix(obs, 200))
    cold_s = time.perf_counter() - start
    print(f"cold fit at n=200: {cold_s:.2f}s", flush=True)
    for kind in ("mean", "kg"):
        for n in sizes:
            fit = SurrogateFit(MixtureSurrogate("icm"), RUNGS, seed=0)
            fit.fit(prefix(obs, n - 1))  # the study so far (its own fit is not timed)
            times, refits = [], 0
            for i in range(args.repeats):  # each step adds one observation, as in a study
                seconds, refit = step(fit, prefix(obs, n + i), cand_w, cand_r, targets, kind)
                times.append(seconds)
                refits += refit
            row = {"step": kind, "n": n, "k": K, "candidates": CANDIDATES, "median_s": round(
                statistics.median(times), 3), "max_s": round(max(times), 3),
                "refits": refits, "repeats": args.repeats}
            print(row, flush=True)
            results.append(row)
    OUT.mkdir(parents=True, exist_ok=True)
    payload = {"cold_fit_n200_s": round(cold_s, 3), "results": results,
               "machine": platform.platform(), "torch_threads": 1,
               "command": "python bench/bo_step.py --repeats " + str(args.repeats),
               "note": "a step = surrogate brought up to date (refit on schedule, else rebuilt "
                       "with the last hyperparameters) + the decision (mean: posterior means of "
                       "the candidates; kg: MF-KG over them) + recommendation; targets: cold "
                       "fit <= 2 s at n=200, step <= 1 s median at n=2000"}
    (OUT / "bo_step.json").write_text(json.dumps(payload, indent=1))
    lines = ["# BO step (K = 19, 1 torch thread)", "", f"Cold fit at n = 200: "
             f"**{cold_s:.2f} s** (target <= 2 s).", "",
             "| step | n | median s | max s | refits in the steps | candidates |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['step']} | {r['n']} | {r['median_s']} | {r['max_s']} | "
              f"{r['refits']}/{r['repeats']} | {r['candidates']} |" for r in results]
    lines += ["", "`mean`: the open target mixtures ranked by posterior mean (the default's "
              "confirmation step); `kg`: every open (mixture, rung) scored by the discrete "
              "multi-fidelity knowledge gradient (joint posterior covariances)."]
    lines += ["", f"`{payload['command']}` on {payload['machine']}."]
    (OUT / "bo_step.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

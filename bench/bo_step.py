"""Time one BO step (fit + acquisition) at n = 50, 200, 500 observations, K = 19, in pool and
continuous modes, the way the Study runs it: warm-started from the previous fit.

Writes bench/results/bo_step.json: {"results": [{"n", "k", "mode", "median_s", ...}]}.
Run: python bench/bo_step.py [--repeats 5]
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
from admire.bo.candidates import CONTINUOUS_SOBOL, LOCAL_CANDIDATES, OBSERVED_CANDIDATES
from admire.bo.surrogate import MixtureSurrogate, TrainingData
from admire.space import MixtureSpace

K, RUNGS = 19, (0.18, 0.48, 1.0)
OUT = Path(__file__).parent / "results"


def synthetic(n: int, rng: np.random.Generator, space: MixtureSpace) -> TrainingData:
    """Observations of a smooth mixture response with rung-dependent level and bias."""
    w = space.dirichlet(n, rng)
    rung = rng.choice(3, size=n, p=[0.6, 0.25, 0.15])
    base = -np.sum((w - 1.0 / K) ** 2, axis=1) + 0.3 * w[:, 0]
    y = 0.3 + 0.1 * rung + base + 0.02 * rung * w[:, 1] + rng.normal(0, 0.002, n)
    return TrainingData(w, rung, y, RUNGS)


def one_step(surrogate: MixtureSurrogate, data: TrainingData, mode: str, space: MixtureSpace,
             rng: np.random.Generator) -> float:
    start = time.perf_counter()
    surrogate.fit(data)
    if mode == "pool":
        cand_w = space.dirichlet(460, rng)
        cand_r = rng.choice(3, size=460)
        targets = cand_w[:76]
    else:
        mean, _ = surrogate.predict(data.weights, 2)
        best_seen = data.weights[np.argsort(-mean)[:OBSERVED_CANDIDATES]]
        mixtures = np.concatenate([
            best_seen, space.sobol(CONTINUOUS_SOBOL, seed=int(rng.integers(1 << 30))),
            space.dirichlet(LOCAL_CANDIDATES, rng, alpha=5.0)])
        cand_w = np.repeat(mixtures, 3, axis=0)
        cand_r = np.tile(np.arange(3), len(mixtures))
        targets = mixtures
    knowledge_gradient(surrogate, cand_w, cand_r, targets, 2)
    best_predicted(surrogate, targets, 2)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    space = MixtureSpace(tuple(f"d{i}" for i in range(K)), (0.0,) * K, (1.0,) * K)
    results = []
    for mode in ("pool", "continuous"):
        for n in (50, 200, 500):
            rng = np.random.default_rng(n)
            surrogate = MixtureSurrogate("icm")
            cold = one_step(surrogate, synthetic(n - 1, rng, space), mode, space, rng)
            times = []
            for i in range(args.repeats):  # each step adds one observation, as in a study
                times.append(one_step(surrogate, synthetic(n + i, np.random.default_rng(n),
                                                           space), mode, space, rng))
            row = {"n": n, "k": K, "mode": mode, "median_s": round(statistics.median(times), 3),
                   "max_s": round(max(times), 3), "cold_s": round(cold, 3),
                   "repeats": args.repeats, "threads": args.threads}
            print(row, flush=True)
            results.append(row)
    OUT.mkdir(parents=True, exist_ok=True)
    payload = {"results": results, "machine": platform.platform(),
               "torch_threads": args.threads,
               "note": "warm-started fit (previous hyperparameters, <= 50 L-BFGS iterations) "
                       "+ discrete MF-KG over the candidates + recommendation"}
    (OUT / "bo_step.json").write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()

"""What the hyperparameters' uncertainty costs a prediction: ``predict`` against
``predict_widened`` (Fisher information and 32 draws, made once per fit) on one fitted
three-rung ICM surrogate per size, side by side in one run.

    python bench/interval_cost.py [--sizes 100,500,1500]

Writes bench/results/interval_cost.json and .md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

from admire.bo.surrogate import MixtureSurrogate, TrainingData

RESULTS = Path(__file__).parent / "results"


def measure(n: int, k: int = 6, points: int = 50) -> dict[str, float]:
    """Seconds for one ``predict`` and the first ``predict_widened`` (which builds the draws)
    and a second one (cached draws) at ``points`` mixtures, on ``n`` runs over ``k`` domains."""
    rng = np.random.default_rng(n)
    weights = rng.dirichlet(np.ones(k), size=n)
    rung = rng.choice(3, size=n)
    y = weights @ rng.normal(size=k) + 0.1 * rung + rng.normal(0, 0.02, n)
    torch.manual_seed(0)
    surrogate = MixtureSurrogate("icm").fit(TrainingData(weights, rung, y, (0.1, 0.4, 1.0)))
    query = rng.dirichlet(np.ones(k), size=points)
    start = time.perf_counter()
    _, var = surrogate.predict(query, 2)
    plain = time.perf_counter() - start
    start = time.perf_counter()
    _, widened = surrogate.predict_widened(query, 2)
    first = time.perf_counter() - start
    start = time.perf_counter()
    surrogate.predict_widened(query, 2)
    cached = time.perf_counter() - start
    return {"runs": n, "predict_s": plain, "widened_first_s": first, "widened_cached_s": cached,
            "first_over_predict": first / plain,
            "median_sd_ratio": float(np.median(np.sqrt(widened / var))),
            "max_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500,1500")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [measure(int(n)) for n in args.sizes.split(",")]
    command = f"python bench/interval_cost.py --sizes {args.sizes}"
    lines = ["# Cost of intervals with the hyperparameters' uncertainty", "",
             f"{platform.machine()}, 1 torch thread, torch {torch.__version__}.", "",
             "| runs | predict | predict_widened, first (builds the draws) | again (cached) | "
             "first / predict | median sd ratio | max RSS so far |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['runs']} | {r['predict_s']:.3f} s | {r['widened_first_s']:.2f} s | "
              f"{r['widened_cached_s']:.2f} s | {r['first_over_predict']:.0f}x | "
              f"{r['median_sd_ratio']:.2f} | {r['max_rss_gb']:.2f} GB |" for r in rows]
    lines += ["", f"Command: `{command}`."]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "interval_cost.json").write_text(json.dumps(
        {"rows": rows, "command": command, "machine": platform.platform()}, indent=1))
    (RESULTS / "interval_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

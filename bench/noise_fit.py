"""What seed noise the default's GP learns at the target, against the truth's, after a live study.

Each study runs as in ``bench/live_synthetic.py`` (continuous mode on a synthetic preset's
truth, the same seeds); at its end the fitted noise sd at the target rung is read off the
model and set beside the generator's, with the recommendation's own target runs (how many,
and how far their mean lies below the truth there, in noise sds: the luck it was picked for).

    python bench/noise_fit.py --seeds 10   # two-rung-k10, k5-face, k8 by default
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from live_synthetic import run_live

RESULTS = Path(__file__).parent / "results"


def noise_fit(problem: str, policy: str, seed: int, budget: float) -> dict[str, Any]:
    study, truth, _, _ = run_live(problem, policy, seed, budget)
    target = len(study.ladder.rungs) - 1
    obs = study.history().observations
    rec = study.recommend(interval=False).weights(study.space.domains)
    fitted = study.policy.model(study.history()).noise_variance(rec[None, :], target)[0]
    own = np.flatnonzero(np.all(np.isclose(obs.weights, rec), axis=1) & (obs.rung == target))
    value = float(truth.truth(np.array([rec[study.space.domains.index(d)]
                                        for d in truth.domains])))
    sign = -1.0 if study.policy.context.minimize else 1.0
    true_sd = float(truth.noise_sd[-1])
    luck = (value - float(np.mean(sign * obs.y[own]))) / true_sd if len(own) else None
    return {"problem": problem, "seed": seed, "fitted_sd": float(np.sqrt(fitted)),
            "true_sd": true_sd, "target_runs": int((obs.rung == target).sum()),
            "runs_at_recommendation": len(own), "luck_in_noise_sd": luck}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default="two-rung-k10-corr0.3-ratio3,k5-face-replicates,"
                                              "k8-corr0.5")
    parser.add_argument("--policy", default="mfbo")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=10.0)
    parser.add_argument("--name", default="noise_fit")
    args = parser.parse_args()
    start = time.time()
    rows = []
    for problem in args.problems.split(","):
        for seed in range(args.seeds):
            rows.append(noise_fit(problem, args.policy, seed, args.budget))
            print(rows[-1], flush=True)
    lines = ["# Seed noise the GP learns at the target (live, end of study)", "",
             f"`python bench/noise_fit.py --problems {args.problems} --policy {args.policy} "
             f"--seeds {args.seeds} --budget {args.budget:g}` - wall "
             f"{(time.time() - start) / 60:.1f} min.", "",
             "luck: how far the recommended mixture's own target runs came out better than the "
             "truth there, in the truth's noise sds (mean over seeds; the winner's curse).", "",
             "| problem | true noise sd | fitted sd: median (min-max) | target runs | "
             "runs at the recommendation | luck |", "|---|---|---|---|---|---|"]
    for problem in args.problems.split(","):
        mine = [r for r in rows if r["problem"] == problem]
        fitted = [r["fitted_sd"] for r in mine]
        luck = [r["luck_in_noise_sd"] for r in mine if r["luck_in_noise_sd"] is not None]
        lines.append(f"| {problem} | {mine[0]['true_sd']:.4f} | {np.median(fitted):.4f} "
                     f"({min(fitted):.4f}-{max(fitted):.4f}) | "
                     f"{np.median([r['target_runs'] for r in mine]):g} | "
                     f"{np.mean([r['runs_at_recommendation'] for r in mine]):.1f} | "
                     f"{np.mean(luck):.2f} |" if luck else "-")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps({"args": vars(args), "rows": rows},
                                                          indent=1))
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Would a blocked leave-out scale calibrate the held-out intervals? A replay experiment.

admire widens its 90% intervals by a leave-one-mixture-out scale (``interval_scale``). The
study's target runs cluster near the optimum, so leaving one out still leaves its neighbours
in: the z-scores measure predictions next to data, and mixtures far from every target run
(most of the simplex) are missed (bench/results/calibration_rung.md, measured when this ran
on the then default rung_scale="rung": 0.62-0.93 held-out coverage, worst on the third
predicted worst). Spatial cross-validation's answer is to leave out a block: each
target run is predicted with every target run within a radius of it left out too (and its own
mixture at every rung), so it is predicted from as far as a typical query is. The radius is a
quantile of the distance from Sobol points on the simplex to their nearest target run: no
held-out data is used to set it.

Same studies as calibration.py (default policy, same seeds and budget). Per variant, the
intervals ``Study.predict`` shows (hyperparameter draws) widened by:

- ``loo``: the leave-one-mixture-out scale (admire today);
- ``block50`` / ``block25``: the larger of that and the blocked scale, radius the median /
  first quartile of the Sobol queries' distances;
- ``pool50`` / ``pool25``: the same with the pool's open target mixtures as the queries (a
  pool study knows where its candidates are; only their locations are used).

Reported: held-out coverage (overall and by thirds of the predicted value), the interval score
(width plus 20x a miss; lower is better), the study's own target runs predicted before they ran,
and the median width against ``loo``'s.

    python bench/calibration_blocked.py [--seeds 10] [--problems ...] [--workers 2]

Writes bench/results/calibration_blocked.json and .md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from calibration import Z90, conformal_scale, held_out_main, held_out_study  # noqa: E402
from calibration_warp import interval_score  # noqa: E402

VARIANTS = {"loo": None, "block50": ("sobol", 0.5), "block25": ("sobol", 0.25),
            "pool50": ("pool", 0.5), "pool25": ("pool", 0.25)}
QUERIES = 1024


def nearest_distance(points: np.ndarray, to: np.ndarray) -> np.ndarray:
    """Euclidean distance from each of ``points`` to its nearest row of ``to``."""
    return np.sqrt(((points[:, None, :] - to[None, :, :]) ** 2).sum(-1)).min(axis=1)


def blocks(weights: np.ndarray, rung: np.ndarray, ids: np.ndarray, target: int,
           radius: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each target run and what is left out with it: its mixture's runs at every rung and the
    target runs closer than ``radius``."""
    wanted = np.flatnonzero(rung == target)
    out = []
    for i in wanted:
        near = np.sqrt(((weights - weights[i]) ** 2).sum(-1)) < radius
        out.append(np.flatnonzero((ids == ids[i]) | ((rung == target) & near)))
    return wanted, out


def blocked_z(surrogate: Any, target: int, radius: float) -> np.ndarray:
    """Blocked leave-out z-scores of the target runs, the sd carrying the hyperparameter
    draws (as the intervals they calibrate do)."""
    from admire.space import mixture_ids

    data = surrogate.data
    wanted, left_out = blocks(data.weights, data.rung, mixture_ids(data.weights), target,
                              radius)
    return surrogate.left_out_z(wanted, left_out, widened=True)


def coverage(task: tuple[str, int]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    name, seed = task
    case = held_out_study(name, "mfbo", seed)
    study, target, weights, truth = case.study, case.target, case.weights, case.truth
    surrogate = study.policy.model(study.history())
    mean, var_w = surrogate.predict_widened(weights, target, observation_noise=True)
    miss = np.abs(truth - mean)
    loo_scale = surrogate.interval_scale(target)
    own = surrogate.prequential_z(target, widened=True)
    data = surrogate.data
    at_target = data.weights[data.rung == target]
    queries = study.space.sobol(QUERIES, seed=seed)
    distance = {"sobol": nearest_distance(queries, at_target),
                "pool": nearest_distance(weights, at_target)}
    by_mean = np.array_split(np.argsort(-mean), 3)
    out: dict[str, Any] = {"problem": name, "seed": seed, "held_out": int(case.mask.sum()),
                           "target_runs": len(at_target),
                           "held_out_distance": float(np.median(nearest_distance(weights,
                                                                                 at_target))),
                           "query_distance": float(np.median(distance["sobol"]))}
    for variant, radius_from in VARIANTS.items():
        scale, left_out_z = loo_scale, own
        if radius_from is not None:
            queries_from, quantile = radius_from
            radius = float(np.quantile(distance[queries_from], quantile))
            left_out_z = blocked_z(surrogate, target, radius)
            scale = max(loo_scale, conformal_scale(left_out_z))
        half = Z90 * scale * np.sqrt(var_w)
        inside = miss <= half
        out[variant] = {"scale": scale, "coverage": float(inside.mean()),
                        "left_out_abs_z_q90": float(np.quantile(np.abs(left_out_z), 0.9)),
                        "held_out_abs_z_q90": float(np.quantile(miss / np.sqrt(var_w), 0.9)),
                        "by_mean_tercile": [float(inside[m].mean()) for m in by_mean],
                        "interval_score": interval_score(mean - half, mean + half, truth),
                        "own": float((np.abs(own) <= Z90 * scale).mean()),
                        "width_vs_loo": scale / loo_scale}
    return out


def report(rows: list[dict[str, Any]], problems: list[str], command: str) -> list[str]:
    lines = ["# A blocked leave-out scale for the held-out intervals (replay)", "",
             "Held-out coverage of the 90% new-run interval `Study.predict` shows (hyperparameter "
             "draws), widened by each variant's scale; interval score: width plus 20x a miss, "
             "mean over held-out mixtures (lower is better); own runs: the study's target runs, "
             "each predicted before it ran. Left-out own runs: in loo's row each predicted "
             "before it ran, in a block row each with its block left out (calibrated: 1.64).",
             "",
             "| problem | variant | coverage | by thirds: best / mid / worst | interval score | "
             "own runs | median scale | median width vs loo | 90th pct abs z: left-out own runs "
             "/ held-out |", "|---|---|---|---|---|---|---|---|---|"]
    for name in problems:
        mine = [r for r in rows if r["problem"] == name]
        for variant in VARIANTS:
            cells = [r[variant] for r in mine]
            thirds = np.mean([c["by_mean_tercile"] for c in cells], axis=0)
            lines.append(
                f"| {name} | {variant} | {np.mean([c['coverage'] for c in cells]):.2f} | "
                + " / ".join(f"{t:.2f}" for t in thirds)
                + f" | {np.mean([c['interval_score'] for c in cells]):.4g} | "
                f"{np.mean([c['own'] for c in cells]):.2f} | "
                f"{np.median([c['scale'] for c in cells]):.2f} | "
                f"{np.median([c['width_vs_loo'] for c in cells]):.2f}x | "
                f"{np.median([c['left_out_abs_z_q90'] for c in cells]):.2f} / "
                f"{np.median([c['held_out_abs_z_q90'] for c in cells]):.2f} |")
    def distances(key: str) -> str:
        return ", ".join(f"{n} {np.median([r[key] for r in rows if r['problem'] == n]):.3f}"
                         for n in problems)

    lines += ["", "Reading: a scale is taken from the study's own target runs; where their "
              "left-out |z| stays under 1.64 while the held-out mixtures' is far above it, "
              "the misses are where the study never went, and no scale from its own runs "
              "reaches them (only target runs placed there, `target_design`, can).",
              "", "Median distance to the nearest target run: held-out mixtures "
              f"{distances('held_out_distance')}; Sobol queries {distances('query_distance')}.",
              "", f"Command: `{command}`."]
    return lines


def main() -> None:
    held_out_main(__doc__, "calibration_blocked", coverage, report, lambda row: ", ".join(
        f"{v} {row[v]['coverage']:.3f}" for v in VARIANTS))


if __name__ == "__main__":
    main()

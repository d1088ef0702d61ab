"""Would warping each rung's objective calibrate the held-out intervals? A replay experiment.

bench/calibration.py finds admire's 90% new-run intervals too narrow at target mixtures the
study never ran (0.64-0.94 held-out coverage with rung_scale="rung", then the default),
worst on the third it predicts worst, and the synthetic problems' objectives are skewed
(skew ~2 at every rung: a few very bad mixtures). A Gaussian process fitted to a skewed
objective is overconfident in the tail. This bench runs
the same studies as calibration.py (default policy, same seeds, same budget), then refits the
final model three ways on the same runs:

- ``none``: the objective as recorded (what admire fits today);
- ``rung``: each rung standardised and Yeo-Johnson-warped with its own maximum-likelihood
  power (scipy.stats.yeojohnson_normmax);
- ``cheapest``: each rung standardised, every rung warped with the cheapest rung's power
  (the cheapest rung has runs across the simplex; the target's runs cluster near the optimum).

A warp is monotone, so an interval in the warped space maps back to one on the objective that
holds exactly the same runs: coverage is compared in the warped space. Reported: held-out
coverage with the model's interval, with the leave-one-out scale, and with the hyperparameter
draws and the scale (what ``Study.predict`` shows), by thirds of the predicted value; and the
study's own target runs, each predicted before it ran (draws and scale).

    python bench/calibration_warp.py [--seeds 10] [--problems ...] [--workers 2]

Writes bench/results/calibration_warp.json and .md.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))

from calibration import Z90, held_out_main, held_out_study  # noqa: E402

MODES = ("none", "rung", "cheapest")
POWER_RANGE = (-3.0, 5.0)  # clip a power fitted on a handful of runs


def _power(values: np.ndarray) -> float:
    standard = (values - values.mean()) / values.std()
    return float(np.clip(stats.yeojohnson_normmax(standard), *POWER_RANGE))


def unwarp_power(t: np.ndarray, power: float) -> np.ndarray:
    """The inverse of scipy.stats.yeojohnson at ``power`` (+-inf past the warp's range)."""
    t = np.asarray(t, float)
    out = np.empty_like(t)
    up = t >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        if abs(power) > 1e-12:
            base = power * t[up] + 1
            out[up] = np.where(base > 0, np.abs(base) ** (1 / power) - 1, np.inf)
        else:
            out[up] = np.expm1(t[up])
        if abs(power - 2) > 1e-12:
            base = 1 - (2 - power) * t[~up]
            out[~up] = np.where(base > 0, 1 - np.abs(base) ** (1 / (2 - power)), -np.inf)
        else:
            out[~up] = -np.expm1(-t[~up])
    return out


Warp = tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray], float]


def warps(y: np.ndarray, rung: np.ndarray, mode: str) -> dict[int, Warp]:
    """Per rung: the warp (standardise by the rung's runs, then Yeo-Johnson), its inverse and
    its power."""
    rungs = [int(r) for r in np.unique(rung)]
    shared = _power(y[rung == min(rungs)]) if mode == "cheapest" else None
    out = {}
    for r in rungs:
        values = y[rung == r]
        mean, sd = float(values.mean()), float(values.std())
        power = _power(values) if shared is None else shared

        def warp(x: np.ndarray, mean: float = mean, sd: float = sd, power: float = power
                 ) -> np.ndarray:
            return stats.yeojohnson((np.asarray(x, float) - mean) / sd, power)

        def unwarp(t: np.ndarray, mean: float = mean, sd: float = sd, power: float = power
                   ) -> np.ndarray:
            return mean + sd * unwarp_power(t, power)

        out[r] = (warp, unwarp, power)
    return out


def _inside(miss: np.ndarray, var: np.ndarray, scale: float = 1.0) -> np.ndarray:
    return miss <= Z90 * scale * np.sqrt(var)


def interval_score(lower: np.ndarray, upper: np.ndarray, truth: np.ndarray) -> float:
    """Mean interval score of 90% intervals (Gneiting & Raftery 2007): width plus 20x any
    miss, so a wider interval wins only if it buys enough coverage. Lower is better."""
    alpha = 0.1
    score = (upper - lower + (2 / alpha) * np.maximum(lower - truth, 0)
             + (2 / alpha) * np.maximum(truth - upper, 0))
    return float(np.mean(score))


def coverage(task: tuple[str, int]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)

    from admire.bo.history import Observations

    name, seed = task
    case = held_out_study(name, "mfbo", seed)
    study, target, weights, truth = case.study, case.target, case.weights, case.truth
    obs = study.history().observations
    out: dict[str, Any] = {"problem": name, "seed": seed, "held_out": int(case.mask.sum()),
                           "target_runs": int((obs.rung == target).sum())}
    for mode in MODES:
        if mode == "none":
            fitted, seen, powers = obs, truth, {}
            unwarp: Callable[[np.ndarray], np.ndarray] = np.asarray
        else:
            by_rung = warps(obs.y, obs.rung, mode)
            y = obs.y.copy()
            for r, (warp, _, _) in by_rung.items():
                y[obs.rung == r] = warp(obs.y[obs.rung == r])
            fitted = Observations(obs.weights, obs.rung, y, obs.cost)
            seen, unwarp = by_rung[target][0](truth), by_rung[target][1]
            powers = {str(r): p for r, (_, _, p) in by_rung.items()}
        surrogate = study.policy.fit.fit(fitted)
        mean, var_y = surrogate.predict(weights, target, observation_noise=True)
        _, var_w = surrogate.predict_widened(weights, target, observation_noise=True)
        scale = surrogate.interval_scale(target)
        miss = np.abs(seen - mean)
        shown = _inside(miss, var_w, scale)
        own = surrogate.prequential_z(target, widened=True)
        half = Z90 * scale * np.sqrt(var_w)
        out[mode] = {
            "powers": powers, "scale": scale,
            "coverage_model": float(_inside(miss, var_y).mean()),
            "coverage_scaled": float(_inside(miss, var_y, scale).mean()),
            "coverage_shown": float(shown.mean()),
            "shown_by_mean_tercile": [float(shown[m].mean())
                                      for m in np.array_split(np.argsort(-mean), 3)],
            "own_shown": float((np.abs(own) <= Z90 * scale).mean()),
            # the shown interval mapped back onto the objective, against the truth's spread
            "width": float(np.median(unwarp(mean + half) - unwarp(mean - half))) / 2,
            "spread": float(np.std(truth)),
            "interval_score": interval_score(unwarp(mean - half), unwarp(mean + half), truth)
            / float(np.std(truth))}
    return out


def report(rows: list[dict[str, Any]], problems: list[str], command: str) -> list[str]:
    lines = ["# Held-out calibration with each rung's objective warped (Yeo-Johnson)", "",
             "Same studies (default policy, same seeds); the final model refitted on the same "
             "runs with the objective as recorded (none), each rung warped with its own power "
             "(rung), or with the cheapest rung's (cheapest). Coverage of the 90% interval for "
             "a new run; 'shown' is what `Study.predict` shows (hyperparameter draws and the "
             "leave-one-out scale). Width: the shown interval's median half-width, mapped back "
             "onto the objective, over the held-out mixtures' sd there (infinite: past the "
             "warp's range). Interval score: width plus 20x the miss (Gneiting & Raftery; "
             "lower is better), over the held-out sd, median over seeds.", "",
             "| problem | warp | seeds | held-out coverage: model | LOO scale | shown | shown, "
             "by thirds: best / mid / worst | own target runs before they ran (shown) | "
             "half-width / held-out sd | interval score / held-out sd | powers (median; cheapest "
             "first) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in problems:
        mine = [r for r in rows if r["problem"] == name]
        for mode in MODES:
            cells = [r[mode] for r in mine]

            def mean(key: str, cells: list[dict[str, Any]] = cells) -> float:
                return float(np.mean([c[key] for c in cells]))

            thirds = np.mean([c["shown_by_mean_tercile"] for c in cells], axis=0)
            powers = ("-" if mode == "none" else " / ".join(
                f"{np.median([c['powers'][r] for c in cells if r in c['powers']]):.2f}"
                for r in sorted({r for c in cells for r in c["powers"]}, key=int)))
            width = np.median([c["width"] / c["spread"] for c in cells])
            score = np.median([c["interval_score"] for c in cells])
            lines.append(f"| {name} | {mode} | {len(cells)} | {mean('coverage_model'):.2f} | "
                         f"{mean('coverage_scaled'):.2f} | **{mean('coverage_shown'):.2f}** | "
                         + " / ".join(f"{t:.2f}" for t in thirds)
                         + f" | {mean('own_shown'):.2f} | {width:.2f} | {score:.2f} | {powers} |")
    return lines + ["", "A calibrated 90% interval covers 0.90.", "", f"Command: `{command}`."]


def main() -> None:
    held_out_main(__doc__, "calibration_warp", coverage, report, lambda row: "shown " + ", ".join(
        f"{m} {row[m]['coverage_shown']:.2f}" for m in MODES))


if __name__ == "__main__":
    main()

"""What a replay curve says: regret at a cost, cost to reach the best, medians over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

REGRET_POINTS = (1, 3, 5, 10)
BEST_TOL = 1e-12

Curve = Sequence[tuple[float, float]]  # (cumulative cost, regret) after each pick


def regret_at(curve: Curve, cost: float) -> float | None:
    """Regret of the latest recommendation made with cumulative cost <= ``cost``."""
    value = None
    for spent, regret in curve:
        if spent > cost + 1e-9:
            break
        value = regret
    return value


def cost_to_best(curve: Curve, tolerance: float = BEST_TOL) -> float | None:
    """Cost from which the recommendation is the best mixture (within ``tolerance`` of its
    value) and stays so to the end."""
    if not curve or curve[-1][1] > tolerance:
        return None
    j = len(curve) - 1
    while j > 0 and curve[j - 1][1] <= tolerance:
        j -= 1
    return curve[j][0]


def cost_to_first_best(curve: Curve) -> float | None:
    return next((spent for spent, regret in curve if regret <= BEST_TOL), None)


def median(values: Sequence[float | None]) -> float | None:
    """Median where a missing value (never reached) counts as infinitely late."""
    if not values:
        return None
    filled = [math.inf if v is None else v for v in values]
    m = float(np.median(filled))
    return None if math.isinf(m) else m


def summary_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per policy: medians over seeds ("never" counts as infinitely late)."""
    rows = []
    for name, m in summary["methods"].items():
        row: dict[str, Any] = {"method": name,
                               "cost_to_best": median(m["cost_to_best"]),
                               "best at end": f"{sum(v is not None for v in m['cost_to_best'])}"
                                              f"/{len(m['cost_to_best'])}",
                               "first_best": median(m["cost_to_first_best"])}
        for u, values in m["regret_at"].items():
            row[f"regret@{u}"] = median(values)
        picks = np.array(m["picks_per_rung"])
        row["picks/rung"] = "/".join(f"{v:.1f}" for v in picks.mean(axis=0))
        row["s/seed"] = float(np.median(m["seconds"]))
        rows.append(row)
    return rows

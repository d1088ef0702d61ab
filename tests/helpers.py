"""Small real studies for tests: a known smooth function of the mixture per rung."""

from __future__ import annotations

import numpy as np

from admire.schema.config import DomainConfig, ObjectiveConfig, StrategyConfig, StudyConfig
from admire.schema.ladder import FidelityLadder, Rung

LADDER = FidelityLadder((Rung("small", 0.1, 1.0), Rung("medium", 0.4, 4.0),
                         Rung("large", 1.0, 10.0)), name="test")


def make_config(k: int = 3, *, mode: str = "continuous", minimize: bool = False,
                lower: float = 0.0, upper: float = 1.0, seed: int = 0,
                initial_trials: int = 2, acquisition: str = "kg") -> StudyConfig:
    domains = tuple(DomainConfig(f"d{i}", lower, upper) for i in range(k))
    return StudyConfig(name="test", domains=domains, objective=ObjectiveConfig("score", minimize),
                       ladder=LADDER, strategy=StrategyConfig(initial_trials=initial_trials,
                                                              acquisition=acquisition, seed=seed),
                       mode=mode, max_trials=50)


def score(mixture: dict[str, float], rung: str) -> tuple[dict[str, float], float]:
    """A known function: best near weight 0.6 on d0; bigger rungs are higher and less biased."""
    w = np.array(list(mixture.values()))
    level = {"small": 0.3, "medium": 0.5, "large": 0.6}[rung]
    value = level - float((w[0] - 0.6) ** 2) - 0.1 * float(np.sum(w[1:] ** 2))
    return {"score": value, "other": value * 2}, LADDER.rung(rung).cost_estimate

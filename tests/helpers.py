"""Small real studies for tests: a known smooth function of the mixture per rung."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from admire.bo.candidates import CandidatePool
from admire.bo.policies.registry import policy_spec
from admire.schema.config import DomainConfig, ObjectiveConfig, StudyConfig
from admire.schema.ladder import FidelityLadder, Rung

LADDER = FidelityLadder((Rung("small", 0.1, 1.0), Rung("medium", 0.4, 4.0),
                         Rung("large", 1.0, 10.0)), name="test")


def make_config(k: int = 3, *, mode: str = "continuous", minimize: bool = False,
                lower: float = 0.0, upper: float = 1.0, seed: int = 0,
                policy: str = "kg", budget: float | None = None, max_trials: int | None = 50,
                **options: Any) -> StudyConfig:
    """A study over k domains d0..d{k-1} on :data:`LADDER` (costs 1, 4, 10: unit 10)."""
    options.setdefault("initial_trials", 2)
    domains = tuple(DomainConfig(name=f"d{i}", lower=lower, upper=upper) for i in range(k))
    return StudyConfig(name="test", domains=domains,
                       objective=ObjectiveConfig(metric="score", minimize=minimize),
                       ladder=LADDER, policy=policy_spec(policy, options), mode=mode,
                       budget=budget, max_trials=max_trials, seed=seed)


def with_options(config: StudyConfig, policy: str, **options: Any) -> StudyConfig:
    return replace(config, policy=policy_spec(policy, options))


def score(mixture: dict[str, float], rung: str) -> tuple[dict[str, float], float]:
    """A known function: best near weight 0.6 on d0; bigger rungs are higher and less biased."""
    w = np.array(list(mixture.values()))
    level = {"small": 0.3, "medium": 0.5, "large": 0.6}[rung]
    value = level - float((w[0] - 0.6) ** 2) - 0.1 * float(np.sum(w[1:] ** 2))
    return {"score": value, "other": value * 2}, LADDER.rung(rung).cost_estimate


def make_pool(n_mix: int = 12, k: int = 3, seed: int = 0) -> CandidatePool:
    """n_mix random mixtures, each at all three rungs (ids c0, c1, ...)."""
    rng = np.random.default_rng(seed)
    mixtures = rng.dirichlet(np.ones(k), size=n_mix)
    weights = np.repeat(mixtures, 3, axis=0)
    rungs = np.tile(np.arange(3), n_mix)
    return CandidatePool(weights, rungs, tuple(f"c{i}" for i in range(len(rungs))))

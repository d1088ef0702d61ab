"""An earlier study and a domain update over it (d0 split in two, d3 added), for the tests of
policies that start from earlier studies' runs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from helpers import make_config, score

from admire.schema.config import DomainConfig, StudyConfig
from admire.schema.warm_start import WarmStartConfig
from admire.study import Study
from admire.study.loop import run_function

NEW = ("d0a", "d0b", "d1", "d2", "d3")  # d0 split in two, d3 added


def new_score(mixture: dict[str, float], rung: str) -> tuple[dict[str, float], float]:
    """helpers.score seen through the update: d0a + d0b is the old d0, d3 joins d2."""
    merged = {"d0": mixture["d0a"] + mixture["d0b"], "d1": mixture["d1"],
              "d2": mixture["d2"] + mixture["d3"]}
    return score(merged, rung)


def old_study(directory: Path) -> Path:
    """A saved screen-confirm study over d0..d2 (seed 1, ten trials)."""
    study = Study(make_config(seed=1, policy="screen-confirm", budget=3.0))
    run_function(study, score, trials=10)
    study.save(directory)
    return directory


def warm_config(source: Path, policy: str = "reuse", mode: str = "continuous",
                budget: float = 3.0, **options: Any) -> StudyConfig:
    """A study over :data:`NEW` warm-started from ``source``."""
    base = make_config(mode=mode, policy=policy, budget=budget, **options)
    item = WarmStartConfig(source=str(source), split={"d0": {"d0a": 0.5, "d0b": 0.5}},
                           added=["d3"])
    return replace(base, domains=tuple(DomainConfig(name=d) for d in NEW), warm_start=(item,))

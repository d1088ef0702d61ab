"""Reference mixtures a live study trains at the target rung, beside its recommendation.

A recommendation means little without the mixtures a team would otherwise use: the uniform
mixture, the natural one (each domain in proportion to its tokens, what concatenating the data
gives) and any the user lists. They are trained at the target rung at the start of the study
(charged to its budget, and data for the model like any target run), and reported with the
recommendation, so the answer can be judged against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from admire.errors import ConfigError
from admire.schema import runs
from admire.schema.config import ReferenceTable, StudyConfig
from admire.study import Study

DEFAULT_REFERENCES = ("uniform", "natural")


def uniform_mixture(config: StudyConfig) -> np.ndarray:
    """Equal weights, moved into the domains' bounds."""
    space = config.space()
    return space.project(np.full(space.k, 1.0 / space.k))


def natural_mixture(config: StudyConfig, tokens: Mapping[str, int]) -> np.ndarray:
    """Each domain in proportion to its train tokens, moved into the domains' bounds."""
    space = config.space()
    counts = np.array([float(tokens.get(d, 0)) for d in space.domains])
    if counts.sum() <= 0:
        raise ConfigError("no train tokens in any domain: no natural mixture",
                          where="study.references")
    return space.project(counts / counts.sum())


def study_references(config: StudyConfig, proxy: bool) -> tuple[Any, ...]:
    """The references a live study starts with: the listed ones, else the defaults (uniform
    alone where no rung trains admire's proxy, so no token counts exist)."""
    if config.references is not None:
        return tuple(config.references)
    return DEFAULT_REFERENCES if proxy else ("uniform",)


def reference_count(config: StudyConfig, proxy: bool) -> int:
    """How many reference runs a live study starts with (:func:`study_references`)."""
    return len(study_references(config, proxy))


def check_budget_pays_for_references(config: StudyConfig, n: int, where: str = "study.budget"
                                     ) -> None:
    """The references are target runs started before any proposal, so the budget must pay
    for them: otherwise a study with a small budget would spend several times it."""
    if config.budget is not None and config.budget < n:
        raise ConfigError(f"{config.budget:g} target-rung runs cannot pay for the study's {n} "
                          f"reference run(s) at the target, trained first at about one run "
                          f"each: give a budget of at least {n}, or list fewer references "
                          "([study] references = [] for none)", where=where)


def reference_mixtures(config: StudyConfig, tokens: Mapping[str, int] | None
                       ) -> dict[str, np.ndarray]:
    """Name -> weights of the study's references (``None`` in the config: the defaults)."""
    space = config.space()
    wanted = DEFAULT_REFERENCES if config.references is None else config.references
    out: dict[str, np.ndarray] = {}
    for i, ref in enumerate(wanted):
        where = f"study.references[{i}]"
        if ref == "uniform":
            out["uniform"] = uniform_mixture(config)
        elif ref == "natural":
            if tokens is None:
                raise ConfigError("the natural mixture needs the domains' token counts (a "
                                  "live study)", where=where)
            out["natural"] = natural_mixture(config, tokens)
        elif isinstance(ref, ReferenceTable):
            out[ref.name] = space.check(space.from_dict(ref.mixture, where=where), where=where)
    return out


def reference_results(study: Study) -> list[dict[str, Any]]:
    """Each reference's mixture and, once it ran, its objective at the target rung."""
    table = study.runs
    column = runs.METRIC_PREFIX + study.metric
    out = []
    for name, trial in study.references().items():
        rows = table[table[runs.RUN_ID] == study.run_id(trial)] if len(table) else table
        done = len(rows) and rows[runs.STATUS].iloc[0] == runs.COMPLETED
        out.append({"name": name, "trial": trial, "mixture": study.proposal_of(trial).mixture,
                    "value": float(rows[column].iloc[0]) if done else None,
                    "status": rows[runs.STATUS].iloc[0] if len(rows) else "not run"})
    return out

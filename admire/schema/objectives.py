"""Several objectives and outcome constraints: the ``[[objectives]]`` and ``[[constraints]]``
tables of a study config.

    [[objectives]]
    metric = "avg_id"
    direction = "maximize"     # optional: inferred from the name (admire.app.metric_direction)
    [[objectives]]
    metric = "avg_ood"
    [[constraints]]
    metric = "avg_id"
    min = 0.30                 # the outcome must not fall below (max = ...: nor rise above)

A study has either one ``[objective]`` (unchanged) or two or more ``[[objectives]]``; the first of
them stands in as the study's ``objective`` wherever one metric is needed (Ax's record, the
single-objective policies). Errors name the file, the table entry and the value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from admire.app.metric_direction import metric_direction
from admire.bo.outcomes import Bound, OutcomeSpec
from admire.errors import ConfigError


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class ObjectiveEntry(_Table):
    """One ``[[objectives]]`` entry as written (the direction may be left to the name)."""

    metric: str = Field(min_length=1)
    direction: Literal["maximize", "minimize"] | None = None


class ConstraintConfig(_Table):
    """One ``[[constraints]]`` entry: the metric must stay within [min, max]."""

    metric: str = Field(min_length=1)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_a_bound(self) -> ConstraintConfig:
        if self.min is None and self.max is None:
            raise ValueError(f"constraint on {self.metric!r} needs min or max (or both)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


Validate = Callable[[type[BaseModel], Any, str, tuple], Any]
Place = Callable[[str, tuple], str]


def parse_outcomes(data: Mapping[str, Any], where: str, validated: Validate, place: Place
                   ) -> tuple[tuple[tuple[str, bool], ...], tuple[ConstraintConfig, ...]]:
    """((metric, minimize) per objective, constraints) from a config's tables; empty when the
    config uses a single ``[objective]``."""
    if "objectives" not in data:
        if "constraints" in data:
            raise ConfigError("outcome constraints need [[objectives]] (two or more); with "
                              "one [objective] there is nothing to trade off",
                              where=place(where, ("constraints",)))
        return (), ()
    if "objective" in data:
        raise ConfigError("give either one [objective] or several [[objectives]], not both",
                          where=place(where, ("objectives",)))
    items = data["objectives"]
    if not isinstance(items, list) or len(items) < 2:
        got = len(items) if isinstance(items, list) else items
        raise ConfigError(f"expected two or more [[objectives]] tables (use [objective] for "
                          f"one), got {got!r}", where=place(where, ("objectives",)))
    objectives: list[tuple[str, bool]] = []
    for i, item in enumerate(items):
        entry = validated(ObjectiveEntry, item, where, ("objectives", i))
        if entry.metric in (m for m, _ in objectives):
            raise ConfigError(f"metric {entry.metric!r} is listed twice",
                              where=place(where, ("objectives", i, "metric")))
        minimize = (metric_direction(entry.metric, None).minimize if entry.direction is None
                    else entry.direction == "minimize")
        objectives.append((entry.metric, minimize))
    raw = data.get("constraints", [])
    if not isinstance(raw, list):
        raise ConfigError(f"expected [[constraints]] tables, got {raw!r}",
                          where=place(where, ("constraints",)))
    constraints = tuple(validated(ConstraintConfig, item, where, ("constraints", i))
                        for i, item in enumerate(raw))
    return tuple(objectives), constraints


def outcome_spec(objectives: Sequence[tuple[str, bool]],
                 constraints: Sequence[ConstraintConfig]) -> OutcomeSpec:
    """The policy's view: objectives, then every metric only constrained, with the bounds."""
    metrics = [m for m, _ in objectives]
    minimize = [flag for _, flag in objectives]
    for c in constraints:
        if c.metric not in metrics:
            metrics.append(c.metric)
            minimize.append(False)
    bounds = tuple(Bound(metrics.index(c.metric), c.min, c.max) for c in constraints)
    return OutcomeSpec(tuple(metrics), tuple(minimize), len(objectives), bounds)


def check_outcome_metrics(spec: OutcomeSpec, known: Sequence[str], where: str) -> None:
    """Every objective and constrained metric must be one the runs report."""
    for i, metric in enumerate(spec.metrics):
        if metric not in known:
            table = "objectives" if i < spec.n_objectives else "constraints"
            raise ConfigError(f"unknown metric {metric!r}; the runs report {sorted(known)}",
                              where=f"{where}: {table}.metric")


def outcome_tables(objectives: Sequence[tuple[str, bool]],
                   constraints: Sequence[ConstraintConfig]) -> dict[str, Any]:
    """The TOML tables that :func:`parse_outcomes` reads back."""
    if not objectives:
        return {}
    out: dict[str, Any] = {"objectives": [
        {"metric": m, "direction": "minimize" if flag else "maximize"} for m, flag in objectives]}
    if constraints:
        out["constraints"] = [c.model_dump(exclude_none=True) for c in constraints]
    return out

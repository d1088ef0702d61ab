"""Typed study configuration, read from TOML and validated up front; every error names its field.

A study config says what is mixed (``[[domain]]``: bounds, repetition limits, user data), what is
optimised (``[objective]``), on which fidelity ladder (``[ladder]``), by which policy
(``[policy]``: a name and that policy's options), and within what limits (``[study]``: budget in
target-rung runs, max_trials, parallelism, seed). ``[proxy]`` goes to the live trainer, which
validates it. Tables are pydantic models (strict types, unknown fields refused), so an error
reads ``study.toml: domain[2].max_epochs: must be greater than 0, got -1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticError

from admire.bo.outcomes import OutcomeSpec
from admire.bo.policies.base import PolicySpec
from admire.bo.policies.registry import default_spec, policy_spec, table_place
from admire.errors import ConfigError, ValidationError
from admire.schema.ladder import FidelityLadder, ladder_from_dict, load_ladder, read_toml
from admire.schema.objectives import (
    ConstraintConfig,
    outcome_spec,
    outcome_tables,
    parse_outcomes,
)
from admire.schema.warm_start import WarmStartConfig, warm_start_tables
from admire.space import MixtureSpace

MODES = ("continuous", "pool")
TABLES = ("study", "objective", "ladder", "domain", "policy", "proxy", "warm_start",
          "objectives", "constraints")


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class DomainConfig(_Table):
    name: str
    lower: float = Field(0.0, ge=0, le=1)
    upper: float = Field(1.0, ge=0, le=1)
    max_epochs: float | None = Field(None, gt=0)
    path: str | None = None  # user data (folder or saved dataset); None = a built-in domain


class ObjectiveConfig(_Table):
    metric: str
    minimize: bool = False


class ReferenceTable(_Table):
    """A named mixture to train at the target rung beside the study's recommendation."""

    name: str
    mixture: dict[str, float]


Reference = Literal["uniform", "natural"] | ReferenceTable


class StudyTable(_Table):
    name: str
    mode: Literal["continuous", "pool"] = "continuous"
    budget: float | None = Field(None, gt=0)  # target-rung runs
    max_trials: int | None = Field(None, gt=0)
    max_parallel: int = Field(1, ge=1)
    seed: int = Field(0, ge=0)
    # Trained at the target rung at the start of a live study and reported beside the
    # recommendation; None: uniform and natural (token-proportional) in `admire tune`.
    references: list[Reference] | None = None
    # `admire tune` trains its recommendation at the target with this many fresh seeds once the
    # budget is spent (outside it, like `admire evaluate`), so the answer comes with the spread
    # between seeds that one-seed trials never show (admire.app.confirm). 0: no confirmation.
    confirm_seeds: int = Field(2, ge=0)

    @model_validator(mode="after")
    def _has_a_limit(self) -> StudyTable:
        if self.budget is None and self.max_trials is None:
            raise ValueError("give a budget (target-rung runs) or max_trials")
        return self


@dataclass(frozen=True)
class StudyConfig:
    name: str
    domains: tuple[DomainConfig, ...]
    objective: ObjectiveConfig
    ladder: FidelityLadder
    policy: PolicySpec = field(default_factory=default_spec)
    mode: str = "continuous"
    budget: float | None = None  # in target-rung runs (the study's cost unit)
    max_trials: int | None = None
    max_parallel: int = 1
    seed: int = 0
    proxy: Mapping[str, Any] = field(default_factory=dict)
    references: tuple[Reference, ...] | None = None
    confirm_seeds: int = 2  # fresh-seed target runs of the recommendation after a live study
    warm_start: tuple[WarmStartConfig, ...] = ()  # earlier studies to start from
    # Several objectives ((metric, minimize) each; ``objective`` is the first) and outcome
    # constraints; empty for a single-objective study (admire.schema.objectives).
    objectives: tuple[tuple[str, bool], ...] = ()
    constraints: tuple[ConstraintConfig, ...] = ()

    @property
    def multi_objective(self) -> bool:
        return bool(self.objectives)

    def outcomes(self) -> OutcomeSpec | None:
        """The objectives and constraints a policy sees (None: one objective)."""
        return outcome_spec(self.objectives, self.constraints) if self.objectives else None

    @property
    def domain_names(self) -> list[str]:
        return [d.name for d in self.domains]

    def space(self) -> MixtureSpace:
        return MixtureSpace(tuple(self.domain_names), tuple(d.lower for d in self.domains),
                            tuple(d.upper for d in self.domains))

    def with_policy(self, spec: PolicySpec) -> StudyConfig:
        return replace(self, policy=spec)


def _where(prefix: str, loc: tuple) -> str:
    """``prefix`` + a pydantic location as ``domain[2].max_epochs``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return f"{prefix}: {text}" if text else prefix


def _validated(model: type[BaseModel], data: Any, where: str, loc: tuple = ()) -> Any:
    """``model`` validated from ``data``; the first problem as a ConfigError naming it."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"must be a table, got {data!r}", where=_where(where, loc))
    try:
        return model.model_validate(dict(data))
    except PydanticError as exc:
        error = exc.errors()[0]
        place = (*loc, *error.get("loc", ()))
        if error["type"] == "extra_forbidden":
            message = f"unknown field; allowed: {sorted(model.model_fields)}"
        elif error["type"] == "missing":
            message = "missing field"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            if error.get("loc"):
                message += f", got {error.get('input')!r}"
        raise ConfigError(message, where=_where(where, place)) from None


def config_from_dict(data: Mapping[str, Any], *, base_dir: Path | None = None,
                     where: str = "config") -> StudyConfig:
    """Build a StudyConfig from parsed TOML; every error names its field."""
    if "strategy" in data:
        raise ConfigError("the [strategy] table is now [policy]: name = \"screen-confirm\" "
                          "(or another policy) and that policy's options",
                          where=_where(where, ("strategy",)))
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise ConfigError(f"unknown tables {unknown}; allowed: {list(TABLES)}", where=where)
    def table(name: str) -> Any:
        if name not in data:
            raise ConfigError(f"missing table [{name}]", where=where)
        return data[name]

    study = _validated(StudyTable, table("study"), where, ("study",))
    objectives, constraints = parse_outcomes(data, where, _validated, _where)
    objective = (ObjectiveConfig(metric=objectives[0][0], minimize=objectives[0][1])
                 if objectives else
                 _validated(ObjectiveConfig, table("objective"), where, ("objective",)))
    ladder = _ladder(table("ladder"), base_dir, where)
    if not isinstance(table("domain"), list) or not data["domain"]:
        raise ConfigError("expected one or more [[domain]] tables", where=_where(where,
                                                                                ("domain",)))
    domains = tuple(_validated(DomainConfig, item, where, ("domain", i))
                    for i, item in enumerate(data["domain"]))
    policy_table = data.get("policy", {})
    if not isinstance(policy_table, Mapping):
        raise ConfigError("must be a table", where=_where(where, ("policy",)))
    options = dict(policy_table)
    name = options.pop("name", default_spec().name)
    if not isinstance(name, str):
        raise ConfigError(f"must be a policy name, got {name!r}",
                          where=_where(where, ("policy", "name")))
    spec = policy_spec(name, options, place=table_place(_where(where, ("policy",))))
    proxy = data.get("proxy", {})
    if not isinstance(proxy, Mapping):
        raise ConfigError("must be a table", where=_where(where, ("proxy",)))
    config = StudyConfig(name=study.name, domains=domains, objective=objective, ladder=ladder,
                         policy=spec, mode=study.mode, budget=study.budget,
                         max_trials=study.max_trials, max_parallel=study.max_parallel,
                         seed=study.seed, proxy=dict(proxy),
                         references=None if study.references is None
                         else tuple(study.references),
                         confirm_seeds=study.confirm_seeds,
                         warm_start=warm_start_tables(data["warm_start"], base_dir=base_dir,
                                                      where=_where(where, ("warm_start",)))
                         if "warm_start" in data else (),
                         objectives=objectives, constraints=constraints)
    try:
        space = config.space()  # bounds that leave no mixture fail here, naming the domain
    except ConfigError as exc:
        raise ConfigError(exc.problem, where=f"{where}: {exc.where}") from None
    for i, ref in enumerate(config.references or ()):
        if isinstance(ref, ReferenceTable):
            place = _where(where, ("study", "references", i, "mixture"))
            try:
                space.check(space.from_dict(ref.mixture, where=place), where=place)
            except ValidationError as exc:
                raise ConfigError(exc.problem, where=exc.where) from None
    return config


def _ladder(table: Any, base_dir: Path | None, where: str) -> FidelityLadder:
    if not isinstance(table, Mapping):
        raise ConfigError("must be a table", where=_where(where, ("ladder",)))
    if "path" in table:
        if set(table) != {"path"}:
            raise ConfigError("give either path = \"ladder.toml\" or the rungs inline, not both",
                              where=_where(where, ("ladder",)))
        if not isinstance(table["path"], str):
            raise ConfigError(f"must be a file path, got {table['path']!r}",
                              where=_where(where, ("ladder", "path")))
        path = Path(table["path"])
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return load_ladder(path, where=_where(where, ("ladder", "path")))
    return ladder_from_dict(table, where=_where(where, ("ladder",)))


def load_config(path: str | Path) -> StudyConfig:
    """Read a study config TOML; relative ladder paths are relative to the config file."""
    path = Path(path)
    return config_from_dict(read_toml(path), base_dir=path.parent, where=str(path))


def proxy_seed(config: StudyConfig, where: str = "proxy") -> int:
    """The seed every trial trains with: ``[proxy] seed``, else the study's seed."""
    seed = dict(config.proxy).get("seed", config.seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"must be an integer >= 0, got {seed!r}", where=f"{where}.seed")
    return seed


def config_to_dict(config: StudyConfig) -> dict[str, Any]:
    """The TOML-shaped dict that :func:`config_from_dict` reads back."""
    study = {"name": config.name, "mode": config.mode, "max_parallel": config.max_parallel,
             "seed": config.seed, "confirm_seeds": config.confirm_seeds}
    if config.budget is not None:
        study["budget"] = config.budget
    if config.max_trials is not None:
        study["max_trials"] = config.max_trials
    if config.references is not None:
        study["references"] = [r if isinstance(r, str) else r.model_dump()
                               for r in config.references]
    ladder = {"name": config.ladder.name,
              "rung": [{"name": r.name, "fidelity": r.fidelity, "cost_estimate": r.cost_estimate,
                        **dict(r.spec)} for r in config.ladder.rungs]}
    objective = ({} if config.objectives else {"objective": config.objective.model_dump()})
    out = {"study": study, **objective, **outcome_tables(config.objectives, config.constraints),
           "ladder": ladder,
           "domain": [d.model_dump(exclude_none=True) for d in config.domains],
           "policy": config.policy.to_dict(), "proxy": dict(config.proxy)}
    if config.warm_start:
        out["warm_start"] = [w.to_dict() for w in config.warm_start]
    return out


def check_same_study(saved: StudyConfig, given: StudyConfig) -> None:
    """A resumed study keeps what defines it; an error names the field that changed."""
    checks = {"domain": (saved.domain_names, given.domain_names),
              "objective": (saved.objective, given.objective),
              "objectives": ((saved.objectives, saved.constraints),
                             (given.objectives, given.constraints)),
              "ladder": (saved.ladder.names, given.ladder.names),
              "study.mode": (saved.mode, given.mode),
              "proxy": (dict(saved.proxy), dict(given.proxy))}
    for name, (was, now) in checks.items():
        if was != now:
            raise ConfigError(f"differs from the saved study ({was!r} there, {now!r} here); "
                              "resume with the same value or start a new study", where=name)

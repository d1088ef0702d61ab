"""Fidelity ladders: ordered rungs (cheapest first, target last) with a numeric fidelity and cost.

A ladder is data (``fidelities/*.toml``). The Study needs each rung's name, numeric fidelity and
cost estimate; whoever trains a rung reads the rest of its table (a proxy's ``model`` and
``train`` tables, resources), kept verbatim in :attr:`Rung.spec` and validated by that trainer.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from admire.errors import ConfigError
from admire.schema.command import command_spec, is_command_rung


@dataclass(frozen=True)
class Rung:
    """One fidelity level. ``fidelity`` is numeric and increasing along the ladder."""

    name: str
    fidelity: float
    cost_estimate: float
    spec: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FidelityLadder:
    """Ordered rungs; the last one is the target fidelity the recommendation is for."""

    rungs: tuple[Rung, ...]
    name: str = "ladder"

    def __post_init__(self) -> None:
        if not self.rungs:
            raise ConfigError("a fidelity ladder needs at least one rung", where=self.name)
        names = [r.name for r in self.rungs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"duplicate rung names {dupes}", where=self.name)
        for i, rung in enumerate(self.rungs):
            for attr in ("fidelity", "cost_estimate"):
                value = getattr(rung, attr)
                if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                    raise ConfigError(f"must be a positive finite number, got {value!r}",
                                      where=f"{self.name}: rung[{i}].{attr}")
        fids = [r.fidelity for r in self.rungs]
        if any(b <= a for a, b in zip(fids, fids[1:], strict=False)):
            raise ConfigError(f"fidelity values must increase along the ladder, got {fids}",
                              where=self.name)

    @property
    def target(self) -> Rung:
        return self.rungs[-1]

    @property
    def cheapest(self) -> Rung:
        return self.rungs[0]

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.rungs]

    def rung(self, name: str) -> Rung:
        for r in self.rungs:
            if r.name == name:
                return r
        raise ConfigError(f"unknown rung {name!r}; the ladder has {self.names}", where=self.name)

    def by_fidelity(self, fidelity: float, tol: float = 1e-9) -> Rung:
        for r in self.rungs:
            if abs(r.fidelity - fidelity) <= tol * max(1.0, abs(r.fidelity)):
                return r
        raise ConfigError(f"no rung has fidelity {fidelity}; rungs: "
                          f"{[(r.name, r.fidelity) for r in self.rungs]}", where=self.name)


class RungTable(BaseModel):
    """A ``[[rung]]`` table: the fields the Study reads; the rest is the trainer's spec."""

    model_config = ConfigDict(frozen=True, extra="allow", strict=True, allow_inf_nan=False)
    name: str
    cost_estimate: float = Field(gt=0)
    fidelity: float | None = Field(None, gt=0)


def ladder_from_dict(data: Mapping[str, Any], *, where: str) -> FidelityLadder:
    """Build a ladder from parsed TOML: ``name`` and a ``[[rung]]`` array of tables.

    ``fidelity`` defaults to cost relative to the target rung (proportional to compute, as a
    multi-fidelity cost model assumes).
    """
    raw = data.get("rung")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("expected a non-empty [[rung]] array", where=f"{where}.rung")
    unknown = sorted(set(data) - {"name", "rung"})
    if unknown:
        raise ConfigError(f"unknown fields {unknown}; allowed: ['name', 'rung']", where=where)
    tables = []
    for i, item in enumerate(raw):
        place = f"{where}.rung[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError("each [[rung]] must be a table", where=place)
        try:
            tables.append(RungTable.model_validate(dict(item)))
        except PydanticError as exc:
            error = exc.errors()[0]
            loc = ".".join(map(str, error.get("loc", ())))
            message = ("missing field" if error["type"] == "missing"
                       else f"{error['msg']}, got {error.get('input')!r}")
            raise ConfigError(message, where=f"{place}.{loc}" if loc else place) from None
    for i, t in enumerate(tables):  # a command rung's template fails here, at config load
        extra = dict(t.model_extra or {})
        if is_command_rung(extra):
            try:
                command_spec(t.name, extra)
            except ConfigError as exc:
                raise ConfigError(exc.problem, where=f"{where}.rung[{i}]: {exc.where}") from None
    target_cost = tables[-1].cost_estimate
    rungs = tuple(Rung(t.name, t.fidelity if t.fidelity is not None
                       else t.cost_estimate / target_cost, t.cost_estimate,
                       dict(t.model_extra or {})) for t in tables)
    name = data.get("name", where)
    try:
        return FidelityLadder(rungs=rungs, name=str(name))
    except ConfigError as exc:  # name the file and table, not only the ladder's own name
        raise ConfigError(exc.problem, where=where) from None


def read_toml(path: Path, *, where: str | None = None) -> dict[str, Any]:
    """Parse a TOML file; a missing, non-UTF-8 or malformed file is a ConfigError naming it."""
    place = f"{where} {path}" if where else str(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("file not found", where=place) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=place) from None


def load_ladder(path: str | Path, *, where: str | None = None) -> FidelityLadder:
    """Read a ladder TOML file; errors name the file and the rung."""
    path = Path(path)
    return ladder_from_dict(read_toml(path, where=where), where=str(path))

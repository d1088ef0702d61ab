"""Fidelity ladders: ordered rungs (cheapest first, target last) with a numeric fidelity and cost.

A ladder is data (``fidelities/*.toml``). The Study needs each rung's name, numeric fidelity and
cost estimate; a proxy trainer additionally reads the rung's ``model`` and ``train`` tables, which
are kept verbatim in :attr:`Rung.spec`.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from admire.errors import ConfigError


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
            where = f"{self.name}: rung[{i}] {rung.name!r}"
            for attr in ("fidelity", "cost_estimate"):
                value = getattr(rung, attr)
                if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                    raise ConfigError(f"{attr} must be a positive finite number, got {value!r}",
                                      where=where)
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

    @classmethod
    def from_costs(cls, names: Sequence[str], costs: Sequence[float],
                   name: str = "ladder") -> FidelityLadder:
        """Ladder whose numeric fidelity is cost relative to the target rung (target = 1)."""
        target_cost = float(costs[-1])
        rungs = tuple(Rung(n, float(c) / target_cost, float(c)) for n, c in zip(names, costs,
                                                                              strict=True))
        return cls(rungs=rungs, name=name)


def ladder_from_dict(data: Mapping[str, Any], *, where: str) -> FidelityLadder:
    """Build a ladder from parsed TOML: ``name`` and a ``[[rung]]`` array of tables.

    Each rung needs ``name`` and ``cost_estimate``; ``fidelity`` defaults to cost relative to the
    target rung (so the fidelity is proportional to compute, as Ax's cost model assumes).
    """
    raw = data.get("rung")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("expected a non-empty [[rung]] array", where=where)
    costs: list[float] = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise ConfigError("each [[rung]] must be a table", where=f"{where}: rung[{i}]")
        for key in ("name", "cost_estimate"):
            if key not in item:
                raise ConfigError(f"missing field {key!r}", where=f"{where}: rung[{i}]")
        cost = item["cost_estimate"]
        if (not isinstance(cost, int | float) or isinstance(cost, bool) or not math.isfinite(cost)
                or cost <= 0):
            raise ConfigError(f"cost_estimate must be a positive finite number, got {cost!r}",
                              where=f"{where}: rung[{i}]")
        costs.append(float(cost))
    target_cost = costs[-1] if costs[-1] > 0 else 1.0
    rungs = []
    for item, cost in zip(raw, costs, strict=True):
        fidelity = item.get("fidelity", cost / target_cost)
        spec = {k: v for k, v in item.items() if k not in ("name", "fidelity", "cost_estimate")}
        rungs.append(Rung(str(item["name"]), fidelity, cost, spec))
    return FidelityLadder(rungs=tuple(rungs), name=str(data.get("name", where)))


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a missing, non-UTF-8 or malformed file is a ConfigError naming it."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("file not found", where=str(path)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path)) from None


def load_ladder(path: str | Path) -> FidelityLadder:
    """Read a ladder TOML file; errors name the file and the rung."""
    path = Path(path)
    return ladder_from_dict(read_toml(path), where=str(path))

"""The study's one Budget: a total in target-run units, the unit fixed once, a trial cap.

The unit (the raw cost of one target-rung run) is fixed when the study is created (the
ladder's target cost estimate; for a recorded table, its mean target-run cost) and saved with
the study, so spend is counted the same way for every use and never moves as runs arrive.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from admire.errors import ConfigError


@dataclass(frozen=True)
class Budget:
    total: float | None  # target-run units; None = no cost limit
    unit: float  # raw cost of one target-run unit
    max_trials: int | None = None

    def __post_init__(self) -> None:
        if not self.unit > 0:
            raise ConfigError(f"the cost unit must be > 0, got {self.unit!r}", where="budget")
        if self.total is not None and not self.total > 0:
            raise ConfigError(f"must be > 0, got {self.total!r}", where="study.budget")
        if self.max_trials is not None and self.max_trials <= 0:
            raise ConfigError(f"must be > 0, got {self.max_trials!r}", where="study.max_trials")

    def units(self, raw_cost: float) -> float:
        return float(raw_cost) / self.unit

    def with_limits(self, total: float | None, max_trials: int | None) -> Budget:
        """New limits in the same unit (a resumed study may raise or lower them)."""
        return replace(self, total=total, max_trials=max_trials)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Budget:
        return cls(data.get("total"), float(data["unit"]), data.get("max_trials"))

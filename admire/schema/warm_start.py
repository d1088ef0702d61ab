"""``[[warm_start]]`` tables: earlier studies whose runs a new study starts from.

    [[warm_start]]
    source = "out/first-study"          # a study directory (its runs.parquet) or a runs table
    renamed = { web = "cc" }
    split = { code = ["python", "other_code"] }   # token-proportional: give tokens
    tokens = { python = 3e9, other_code = 1e9 }
    added = ["math"]
    removed = []
    on_removed = "drop"                 # or "renormalize"

The mapping itself is checked against the source's domains when the runs are read
(:mod:`admire.study.warm_start`); this module checks the table's shape and types.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from admire.errors import ConfigError


class WarmStartConfig(BaseModel):
    """One earlier study (or runs table) and how its domains map onto this study's."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    source: str = Field(min_length=1)
    renamed: dict[str, str] = Field(default_factory=dict)
    split: dict[str, list[str] | dict[str, float]] = Field(default_factory=dict)
    tokens: dict[str, float] | None = None
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    on_removed: Literal["drop", "renormalize"] = "drop"

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def _place(where: str, loc: tuple) -> str:
    return where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def warm_start_tables(data: Any, *, base_dir: Path | None, where: str
                      ) -> tuple[WarmStartConfig, ...]:
    """The validated ``[[warm_start]]`` list; relative sources resolve against ``base_dir``
    (the config file's folder), so a saved study reads the same files on resume."""
    if not isinstance(data, list) or not all(isinstance(t, Mapping) for t in data):
        raise ConfigError("expected one or more [[warm_start]] tables", where=where)
    out = []
    for i, table in enumerate(data):
        try:
            item = WarmStartConfig.model_validate(dict(table))
        except PydanticError as exc:
            error = exc.errors()[0]
            message = ("unknown field; allowed: " + str(sorted(WarmStartConfig.model_fields))
                       if error["type"] == "extra_forbidden"
                       else "missing field" if error["type"] == "missing"
                       else f"{error['msg']}, got {error.get('input')!r}")
            raise ConfigError(message, where=_place(where, (i, *error.get("loc", ())))
                              ) from None
        source = Path(item.source)
        if not source.is_absolute() and base_dir is not None:
            item = item.model_copy(update={"source": str(base_dir / source)})
        out.append(item)
    return tuple(out)

"""What ``admire explain`` reads: a finished study folder or a runs table, resolved into the
objective, its direction, the ladder order, the rung to explain and the model options.

A study folder (``admire tune --out``) brings its own objective, ladder, domain bounds, policy
options and recommendation; a bare runs table gets the ladder from its fidelities (as replay
does), the bounds from the weights it holds, and the default policy's model options.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from admire.app.metric_direction import metric_direction
from admire.bo.history import Observations
from admire.bo.policies.options import ModelOptions
from admire.errors import ValidationError
from admire.schema import runs
from admire.schema.config import config_from_dict


@dataclass(frozen=True)
class Source:
    """A runs table ready to explain (completed runs with the objective, in ladder order)."""

    path: Path
    kind: str  # "study" or "table"
    table: pd.DataFrame  # every row, failed ones included (for the budget)
    objective: str  # metric column, m:<name>
    minimize: bool
    direction: str  # why this direction (flag, study config, or inferred from the name)
    rungs: tuple[str, ...]  # cheapest first
    rung: int  # index of the rung explained
    lower: np.ndarray  # (K,) bounds the simplex average is drawn within
    upper: np.ndarray
    options: ModelOptions
    seed: int
    recommended: dict[str, float] | None  # the study's own recommendation at this rung

    @property
    def metric(self) -> str:
        return self.objective[len(runs.METRIC_PREFIX):]

    @property
    def domains(self) -> list[str]:
        return runs.domains(self.table)

    @property
    def rung_name(self) -> str:
        return self.rungs[self.rung]

    def completed(self) -> pd.DataFrame:
        """Completed runs with a finite objective at a rung of the ladder."""
        t = self.table
        keep = ((t[runs.STATUS] == runs.COMPLETED) & t[self.objective].notna()
                & t[runs.RUNG].isin(self.rungs))
        return t[keep].reset_index(drop=True)

    def observations(self) -> Observations:
        """Weights, rung indices, objective oriented for maximisation, cost in target-run
        units (the explained rung's mean cost)."""
        done = self.completed()
        index = {r: i for i, r in enumerate(self.rungs)}
        at = done[done[runs.RUNG] == self.rung_name]
        unit = float(at[runs.COST].mean()) if len(at) and at[runs.COST].mean() > 0 else 1.0
        y = done[self.objective].to_numpy(dtype=float)
        return Observations(np.array(done[runs.weight_columns(done)], dtype=float),
                            np.array(done[runs.RUNG].map(index), dtype=int),
                            -y if self.minimize else y.copy(),
                            np.array(done[runs.COST], dtype=float) / unit)


def _rung_index(rungs: tuple[str, ...], rung: str | None) -> int:
    if rung is None:
        return len(rungs) - 1
    if rung not in rungs:
        raise ValidationError(f"unknown rung {rung!r}; the ladder has {list(rungs)}",
                              where="--rung")
    return rungs.index(rung)


def _study(path: Path) -> tuple[dict[str, Any], Any]:
    meta_path = path / "study.json"
    if not meta_path.exists():
        raise ValidationError("not a study folder (study.json missing); give a finished "
                              "`admire tune --out` folder or a runs table", where=str(path))
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        config = config_from_dict(meta["config"], where=f"{meta_path}: config")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ValidationError(f"not a readable study file ({type(exc).__name__})",
                              where=str(meta_path)) from None
    rec_path = path / "recommendation.json"
    rec = None
    if rec_path.exists():
        try:
            rec = json.loads(rec_path.read_text(encoding="utf-8")).get("recommendation")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValidationError(f"unreadable JSON ({exc})", where=str(rec_path)) from None
    return {"config": config, "recommendation": rec}, config


def load_source(path: str | Path, *, objective: str | None = None,
                minimize: bool | None = None, rung: str | None = None) -> Source:
    """Read and resolve ``path`` (a study folder or a .parquet/.csv runs table)."""
    path = Path(path)
    if not path.exists():
        raise ValidationError("not found", where=str(path))
    if path.is_dir():
        meta, config = _study(path)
        table_path = path / "runs.parquet"
        if not table_path.exists():
            raise ValidationError("the study has no runs table (runs.parquet missing)",
                                  where=str(path))
        table = runs.read_runs(table_path)
        column = runs.resolve_metric(objective or config.objective.metric, table)
        own = column[len(runs.METRIC_PREFIX):] == config.objective.metric
        if minimize is None and own:
            minimize, why = config.objective.minimize, "the study's objective"
        else:
            d = metric_direction(column[len(runs.METRIC_PREFIX):], minimize)
            minimize, why = d.minimize, d.reason
        rungs = tuple(config.ladder.names)
        index = _rung_index(rungs, rung)
        space = config.space()
        options = config.policy.options
        rec = meta["recommendation"]
        recommended = (rec["mixture"] if rec and own and rec.get("rung") == rungs[index]
                       else None)
        return Source(path, "study", table, column, bool(minimize), why, rungs, index,
                      space.lower_array, space.upper_array,
                      ModelOptions.of(options),
                      config.seed, recommended)
    table = runs.read_runs(path)
    metrics = runs.metrics(table)
    if objective is None:
        if len(metrics) != 1:
            raise ValidationError(f"the table has {len(metrics)} metrics; choose one with "
                                  f"--objective: {', '.join(metrics) or 'none'}",
                                  where=str(path))
        objective = metrics[0]
    column = runs.resolve_metric(objective, table)
    d = metric_direction(column[len(runs.METRIC_PREFIX):], minimize)
    if table.empty:
        raise ValidationError("no runs", where=str(path))
    # Every row's rung (failed ones too), so a target whose runs all failed is still named.
    order = table.groupby(runs.RUNG, sort=False)[runs.FIDELITY].first().sort_values()
    rungs = tuple(str(r) for r in order.index)
    weights = table[runs.weight_columns(table)].to_numpy(dtype=float)
    return Source(path, "table", table, column, d.minimize, d.reason, rungs,
                  _rung_index(rungs, rung), np.zeros(weights.shape[1]), weights.max(axis=0),
                  ModelOptions(), 0, None)


def check_rung_has_runs(source: Source) -> int:
    """Number of usable runs at the explained rung; none is an error naming the rung."""
    done = source.completed()
    n = int((done[runs.RUNG] == source.rung_name).sum())
    if n == 0:
        raise ValidationError(f"no completed runs with {source.metric} at rung "
                              f"{source.rung_name!r}; nothing to explain there",
                              where=str(source.path))
    return n

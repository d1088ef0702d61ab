"""Import wide CSVs (one column per domain weight and per metric, like ADMIRE IFT Runs).

The user states the fidelity order (cheapest first, target last); costs come from a column or a
fixed cost per rung. The numeric fidelity of a rung is its mean cost relative to the target rung,
so it is proportional to compute, as Ax's multi-fidelity cost model assumes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from admire.errors import ValidationError
from admire.schema import runs


@dataclass(frozen=True)
class ImportResult:
    table: pd.DataFrame
    report: runs.ValidationReport
    rung_fidelity: dict[str, float]
    ignored_columns: list[str] = field(default_factory=list)


def parse_mapping(text: str | None, *, option: str) -> dict[str, float]:
    """Parse ``A=0.1,B=1`` into a dict; errors name the option."""
    if not text:
        return {}
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not name.strip() or not math.isfinite(number) or number <= 0:
            raise ValidationError(f"expected NAME=POSITIVE_NUMBER items, got {part!r}",
                                  where=option)
        out[name.strip()] = number
    return out


def _strip_prefix(columns: Sequence[str], prefix: str, new_prefix: str, source: str,
                  what: str) -> dict[str, str]:
    mapping = {c: new_prefix + c[len(prefix):] for c in columns if c.startswith(prefix)}
    if not mapping:
        raise ValidationError(f"no {what} columns start with {prefix!r}", where=source)
    empty = [c for c, new in mapping.items() if new == new_prefix]
    if empty:
        raise ValidationError(f"{what} column {empty[0]!r} has no name after the prefix",
                              where=source)
    return mapping


def import_wide_csv(src: str | Path, *, fidelity_column: str, fidelity_order: Sequence[str],
                    weight_prefix: str = "ratio_", metric_prefix: str = "metric_",
                    cost_column: str | None = None,
                    rung_costs: Mapping[str, float] | None = None,
                    fidelity_values: Mapping[str, float] | None = None,
                    study: str | None = None,
                    weight_tol: float = runs.DEFAULT_WEIGHT_TOL) -> ImportResult:
    """Turn a wide CSV into a validated runs table (nothing is written here)."""
    src = Path(src)
    source = str(src)
    if not src.exists():
        raise ValidationError("file not found", where=source)
    raw = runs._read_csv_text(src)
    order = [r.strip() for r in fidelity_order if r.strip()]
    if not order:
        raise ValidationError("give at least one rung, cheapest first", where="--fidelity-order")
    if len(set(order)) != len(order):
        raise ValidationError(f"rungs repeat in {order}", where="--fidelity-order")
    if fidelity_column not in raw.columns:
        raise ValidationError(f"no column {fidelity_column!r}; columns are {list(raw.columns)}",
                              where=source)
    if (cost_column is None) == (not rung_costs):
        raise ValidationError("give exactly one of --cost-column and --rung-cost",
                              where="options")
    if cost_column is not None and cost_column not in raw.columns:
        raise ValidationError(f"no cost column {cost_column!r}", where=source)

    weight_map = _strip_prefix(list(raw.columns), weight_prefix, runs.WEIGHT_PREFIX, source,
                               "weight")
    metric_map = _strip_prefix(list(raw.columns), metric_prefix, runs.METRIC_PREFIX, source,
                               "metric")
    renamed = list(weight_map.values()) + list(metric_map.values())
    clashes = sorted({c for c in renamed if renamed.count(c) > 1})
    if clashes:
        raise ValidationError(f"columns collide after removing prefixes: {clashes}", where=source)

    rung = raw[fidelity_column].astype(str).str.strip()
    study_name = study or src.stem
    table = pd.DataFrame({runs.RUN_ID: [f"{study_name}-{i:05d}" for i in range(len(raw))],
                          runs.STUDY: study_name})
    for old, new in weight_map.items():
        table[new] = raw[old]
    table[runs.RUNG] = rung
    bad = np.flatnonzero(~rung.isin(order).to_numpy())
    if len(bad):
        raise runs._fail(source, table, bad, fidelity_column,
                         f"unknown fidelity rung {rung.iloc[bad[0]]!r}; --fidelity-order is "
                         f"{order}")

    if cost_column is not None:
        cost = runs._as_float(raw.assign(run_id=table[runs.RUN_ID]), cost_column, source)
    else:
        missing = [r for r in order if r not in rung_costs and (rung == r).any()]
        if missing:
            raise ValidationError(f"no cost for rungs {missing}", where="--rung-cost")
        cost = rung.map(lambda r: rung_costs.get(r, math.nan)).astype(float)
    table[runs.COST] = cost

    rung_fidelity = _rung_fidelities(order, rung, cost, rung_costs or {}, fidelity_values or {})
    table[runs.FIDELITY] = rung.map(rung_fidelity).astype(float)
    for old, new in metric_map.items():
        table[new] = raw[old]
    table[runs.STATUS] = runs.COMPLETED
    table[runs.SEED] = pd.NA
    table[runs.STARTED_AT] = pd.NaT
    table[runs.FINISHED_AT] = pd.NaT
    validated, report = runs.validate_runs(table, source=source, rungs=order,
                                           weight_tol=weight_tol)
    used = {fidelity_column, cost_column, *weight_map, *metric_map}
    ignored = [c for c in raw.columns if c not in used]
    return ImportResult(validated, report, rung_fidelity, ignored)


def _rung_fidelities(order: Sequence[str], rung: pd.Series, cost: pd.Series,
                     rung_costs: Mapping[str, float],
                     explicit: Mapping[str, float]) -> dict[str, float]:
    """Numeric fidelity per rung: explicit values, else mean cost relative to the target rung."""
    if explicit:
        missing = [r for r in order if r not in explicit]
        if missing:
            raise ValidationError(f"no fidelity value for rungs {missing}",
                                  where="--fidelity-values")
        values = {r: float(explicit[r]) for r in order}
    else:
        mean_cost = cost.groupby(rung).mean()
        estimate = {r: float(rung_costs.get(r, mean_cost.get(r, math.nan))) for r in order}
        present = [v for v in estimate.values() if math.isfinite(v) and v > 0]
        if not present:
            raise ValidationError("cannot derive fidelity values: no positive costs",
                                  where="--fidelity-values")
        scale = estimate[order[-1]] if math.isfinite(estimate[order[-1]]) else max(present)
        # Rungs without rows or cost keep their place by a small increasing value.
        values = {}
        previous = 0.0
        for r in order:
            v = estimate[r] / scale if math.isfinite(estimate[r]) and estimate[r] > 0 else 0.0
            values[r] = max(v, previous * (1 + 1e-6) + 1e-9)
            previous = values[r]
    fids = [values[r] for r in order]
    if any(b <= a for a, b in zip(fids, fids[1:], strict=False)):
        raise ValidationError(f"fidelity values must increase along --fidelity-order {list(order)}"
                              f"; got {fids} (mean cost per rung must increase, or give "
                              f"--fidelity-values)", where="--fidelity-order")
    return values

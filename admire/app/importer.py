"""Import a user's wide CSV (one row per run, one column per domain weight and per metric, like
ADMIRE IFT Runs) into the runs-table schema.

The user states the fidelity order (cheapest first, target last); costs come from a column or a
fixed cost per rung. The numeric fidelity of a rung is its mean cost relative to the target rung,
so it is proportional to compute, as Ax's multi-fidelity cost model assumes. Every error names
the user's own column (``mix_code``, never the internal ``w:code``) and the data row and line of
the file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from admire.app import import_columns as cols
from admire.app.csv_input import UserCsv, delimiter_name, read_user_csv
from admire.errors import ValidationError
from admire.schema import runs


@dataclass(frozen=True)
class ImportResult:
    """The validated table and what the import found, for the report after it."""

    table: pd.DataFrame
    report: runs.ValidationReport
    rung_fidelity: dict[str, float]
    ignored_columns: list[str] = field(default_factory=list)
    domains: dict[str, str] = field(default_factory=dict)  # domain -> the user's column
    metrics: dict[str, str] = field(default_factory=dict)  # metric -> the user's column
    rung_rows: dict[str, int] = field(default_factory=dict)
    typos: list[str] = field(default_factory=list)
    delimiter: str = ","
    sniffed: bool = True
    skipped_rows: int = 0
    run_id_column: str | None = None


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


def _need_column(name: str | None, columns: Sequence[str], option: str, source: str) -> None:
    if name is not None and name not in columns:
        guess = cols.closest(name, columns)
        hint = f"did you mean {guess!r}?" if guess else f"columns are {list(columns)}"
        raise ValidationError(f"no column {name!r} ({option}); {hint}", where=source)


def import_wide_csv(src: str | Path, *, fidelity_column: str, fidelity_order: Sequence[str],
                    weight_prefix: str | None = None, metric_prefix: str | None = None,
                    weight_columns: Sequence[str] | None = None,
                    metric_columns: Sequence[str] | None = None,
                    run_id_column: str | None = None, delimiter: str | None = None,
                    cost_column: str | None = None,
                    rung_costs: Mapping[str, float] | None = None,
                    fidelity_values: Mapping[str, float] | None = None,
                    study: str | None = None,
                    weight_tol: float = runs.DEFAULT_WEIGHT_TOL) -> ImportResult:
    """Turn a wide CSV into a validated runs table (nothing is written here).

    Weight and metric columns come from the lists, the prefixes, or both (see
    :mod:`admire.app.import_columns`); ``delimiter`` None sniffs it.
    """
    data = read_user_csv(src, delimiter=delimiter)
    source, raw = data.source, data.frame
    order = [r.strip() for r in fidelity_order if r.strip()]
    _check_options(order, cost_column, rung_costs, fidelity_values)
    columns = list(raw.columns)
    special = {"--fidelity-column": fidelity_column, "--cost-column": cost_column,
               "--run-id-column": run_id_column}
    for option, name in special.items():
        _need_column(name, columns, option, source)
    reserved = {c for c in special.values() if c is not None}
    if len(reserved) < sum(c is not None for c in special.values()):
        raise ValidationError("the fidelity, cost and run-id columns must differ",
                              where="options")
    weights = cols.select(columns, what="weight", listed=weight_columns, prefix=weight_prefix,
                          default_prefix=cols.DEFAULT_WEIGHT_PREFIX, reserved=reserved,
                          source=source)
    metrics = cols.select(columns, what="metric", listed=metric_columns, prefix=metric_prefix,
                          default_prefix=cols.DEFAULT_METRIC_PREFIX, reserved=reserved,
                          source=source)
    both = sorted(set(weights.names.values()) & set(metrics.names.values()))
    if both:
        raise ValidationError(f"columns {both} are chosen as weights and as metrics",
                              where="--weight-columns / --metric-columns")
    used = reserved | set(weights.names.values()) | set(metrics.names.values())
    ignored = [c for c in columns if c not in used]
    typos = cols.probable_typos(ignored, [weights, metrics])

    rung = raw[fidelity_column].astype(str).str.strip()
    _check_rungs(data, rung, order, fidelity_column)
    study_name = study or Path(src).stem
    ids = _run_ids(data, run_id_column, study_name)
    names = {runs.RUNG: fidelity_column, runs.COST: cost_column or "--rung-cost",
             runs.RUN_ID: run_id_column or runs.RUN_ID,
             **{runs.WEIGHT_PREFIX + d: c for d, c in weights.names.items()},
             **{runs.METRIC_PREFIX + m: c for m, c in metrics.names.items()}}
    shown_ids = ids if run_id_column else None
    table = pd.DataFrame({runs.RUN_ID: ids, runs.STUDY: study_name})
    for domain, column in weights.names.items():
        table[runs.WEIGHT_PREFIX + domain] = raw[column].to_numpy()
    table[runs.RUNG] = rung.to_numpy()
    if cost_column is not None:
        try:
            cost = runs._as_float(raw.assign(**{runs.RUN_ID: ids}), cost_column, source)
        except runs.CellError as exc:
            raise _in_file_terms(exc, data, names, shown_ids, []) from None
        bad = np.flatnonzero(~(np.isfinite(cost.to_numpy()) & (cost.to_numpy() >= 0)))
        if len(bad):  # before fidelities are derived from the costs, which it would skew
            raise ValidationError(f"cost must be a finite number >= 0, got {cost.iloc[bad[0]]}",
                                  where=f"{source}, {data.row_label(int(bad[0]))}, column "
                                        f"{cost_column!r}")
    else:
        missing = [r for r in order if r not in rung_costs and (rung == r).any()]
        if missing:
            raise ValidationError(f"no cost for rungs {missing}", where="--rung-cost")
        cost = rung.map(lambda r: rung_costs.get(r, math.nan)).astype(float)
    table[runs.COST] = cost.to_numpy()
    rung_fidelity = _rung_fidelities(order, rung, cost, rung_costs or {}, fidelity_values or {},
                                     cost_column or "--rung-cost")
    table[runs.FIDELITY] = rung.map(rung_fidelity).astype(float).to_numpy()
    for metric, column in metrics.names.items():
        table[runs.METRIC_PREFIX + metric] = raw[column].to_numpy()
    table[runs.STATUS] = runs.COMPLETED
    table[runs.SEED] = pd.NA
    table[runs.STARTED_AT] = pd.NaT
    table[runs.FINISHED_AT] = pd.NaT
    try:
        validated, report = runs.validate_runs(table, source=source, rungs=order,
                                               weight_tol=weight_tol)
    except runs.CellError as exc:
        weight_problem = exc.column is None or exc.column.startswith(runs.WEIGHT_PREFIX)
        raise _in_file_terms(exc, data, names, shown_ids,
                             typos if weight_problem else []) from None
    return ImportResult(validated, report, rung_fidelity, ignored, dict(weights.names),
                        dict(metrics.names), {r: int((rung == r).sum()) for r in order}, typos,
                        data.delimiter, data.sniffed, data.skipped_rows, run_id_column)


def _check_options(order: Sequence[str], cost_column: str | None,
                   rung_costs: Mapping[str, float] | None,
                   fidelity_values: Mapping[str, float] | None) -> None:
    if not order:
        raise ValidationError("give at least one rung, cheapest first", where="--fidelity-order")
    if len(set(order)) != len(order):
        raise ValidationError(f"rungs repeat in {list(order)}", where="--fidelity-order")
    if (cost_column is None) == (not rung_costs):
        raise ValidationError("give exactly one of --cost-column and --rung-cost",
                              where="options")
    for option, mapping in (("--rung-cost", rung_costs), ("--fidelity-values", fidelity_values)):
        stray = [r for r in mapping or {} if r not in order]
        if stray:
            raise ValidationError(f"rungs {stray} are not in --fidelity-order {list(order)}",
                                  where=option)


def _in_file_terms(exc: runs.CellError, data: UserCsv, names: Mapping[str, str],
                   run_ids: Sequence[str] | None, typos: Sequence[str]) -> ValidationError:
    """Re-state a runs-table cell error with the file's row numbers and column names."""
    row = exc.rows[0]
    where = f"{data.source}, {data.row_label(row, run_ids[row] if run_ids else None)}"
    if exc.column is not None:
        where += f", column {names.get(exc.column, exc.column)!r}"
    hint = "".join(f"; note: {flag}" for flag in typos)
    if re.fullmatch(r"not a number: '-?\d*,\d+'", exc.problem):
        hint += "; decimal commas are not read: save the file with '.' as the decimal mark"
    return ValidationError(exc.problem + hint, where=where)


def _check_rungs(data: UserCsv, rung: pd.Series, order: Sequence[str], column: str) -> None:
    bad = np.flatnonzero(~rung.isin(order).to_numpy())
    if not len(bad):
        return
    value = rung.iloc[bad[0]]
    guess = cols.closest(value, order)
    hint = f" (did you mean {guess!r}?)" if guess else ""
    more = f"; {len(bad) - 1} more rows have unknown rungs" if len(bad) > 1 else ""
    raise ValidationError(f"unknown fidelity rung {value!r}{hint}; --fidelity-order is "
                          f"{list(order)}{more}",
                          where=f"{data.source}, {data.row_label(int(bad[0]))}, column "
                                f"{column!r}")


def _run_ids(data: UserCsv, column: str | None, study: str) -> list[str]:
    """The user's run ids (unique, non-empty), or ``<study>-00000``... when none are given."""
    if column is None:
        return [f"{study}-{i:05d}" for i in range(len(data.frame))]
    ids = [str(v).strip() for v in data.frame[column]]
    first: dict[str, int] = {}
    for i, rid in enumerate(ids):
        if not rid:
            raise ValidationError("missing run id",
                                  where=f"{data.source}, {data.row_label(i)}, column {column!r}")
        if rid in first:
            raise ValidationError(f"duplicate run id {rid!r}: {data.row_label(first[rid])} and "
                                  f"{data.row_label(i)}", where=f"{data.source}, column "
                                                                f"{column!r}")
        first[rid] = i
    return ids


def _rung_fidelities(order: Sequence[str], rung: pd.Series, cost: pd.Series,
                     rung_costs: Mapping[str, float], explicit: Mapping[str, float],
                     cost_source: str) -> dict[str, float]:
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
            raise ValidationError("no positive costs, so no fidelity per rung can be derived "
                                  "from them; give --fidelity-values", where=cost_source)
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


def report_lines(result: ImportResult, source: str) -> list[str]:
    """What ``admire runs import`` prints after writing: what was found, and what was not used."""
    how = "detected" if result.sniffed else "given"
    skipped = f", {result.skipped_rows} empty rows skipped" if result.skipped_rows else ""
    lines = [f"read {source}: {len(result.table)} data rows, delimiter "
             f"{delimiter_name(result.delimiter)} ({how}){skipped}"]
    for what, found in (("domains", result.domains), ("metrics", result.metrics)):
        listed = ", ".join(name if name == column else f"{name} <- {column}"
                           for name, column in found.items())
        lines.append(f"{what} ({len(found)}): {listed}")
    lines.append("rungs: " + "; ".join(
        f"{r} (fidelity {result.rung_fidelity[r]:.4g}): {n} row{'' if n == 1 else 's'}"
        for r, n in result.rung_rows.items()))
    lines.append(f"run ids: from column {result.run_id_column!r}" if result.run_id_column
                 else "run ids: generated (no --run-id-column)")
    lines.append(f"ignored columns ({len(result.ignored_columns)}): "
                 f"{', '.join(result.ignored_columns) or 'none'}")
    if result.report.renormalized_rows:
        lines.append(f"renormalized {result.report.renormalized_rows} weight rows; largest "
                     f"deviation from 1 was {result.report.max_weight_deviation:.3g}")
    return lines

"""The runs table: one row per finished run, the interchange format of admire.

Released datasets import into it, live studies append to it, replay reads it. Columns:

``run_id, study, w:<domain>..., rung, fidelity, cost, m:<metric>..., status, seed, started_at,
finished_at``

Validation errors name the source, the 1-based data row (and run id) and the column, so a user can
fix a file without a debugger. Writes are atomic (temporary file, then rename): an error never
leaves a half-written or clobbered table behind.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from admire.errors import ValidationError
from admire.io import atomic_write
from admire.space import mixture_keys_array

RUN_ID = "run_id"
STUDY = "study"
RUNG = "rung"
FIDELITY = "fidelity"
COST = "cost"
STATUS = "status"
SEED = "seed"
STARTED_AT = "started_at"
FINISHED_AT = "finished_at"
WEIGHT_PREFIX = "w:"
METRIC_PREFIX = "m:"
POOL_PREFIX = "pool:"  # the data pool's state as the run saw it (admire.proxy.pool_state)

COMPLETED = "completed"
FAILED = "failed"
STATUSES = (COMPLETED, FAILED)

DEFAULT_WEIGHT_TOL = 0.01
STRING_COLUMNS = (RUN_ID, STUDY, RUNG, STATUS)
FIXED_COLUMNS = (RUN_ID, STUDY, RUNG, FIDELITY, COST, STATUS, SEED, STARTED_AT, FINISHED_AT)
MAX_LISTED = 5
RENORMALIZE_ABOVE = 1e-12


@dataclass(frozen=True)
class ValidationReport:
    """What validation changed or noticed without failing."""

    n_rows: int
    max_weight_deviation: float
    renormalized_rows: int


def weight_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if isinstance(c, str) and c.startswith(WEIGHT_PREFIX)]


def metric_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if isinstance(c, str) and c.startswith(METRIC_PREFIX)]


def pool_columns(df: pd.DataFrame) -> list[str]:
    """Optional pool-state covariates (``pool:tokens:<domain>``, ...); NaN where not recorded."""
    return [c for c in df.columns if isinstance(c, str) and c.startswith(POOL_PREFIX)]


def domains(df: pd.DataFrame) -> list[str]:
    return [c[len(WEIGHT_PREFIX):] for c in weight_columns(df)]


def metrics(df: pd.DataFrame) -> list[str]:
    return [c[len(METRIC_PREFIX):] for c in metric_columns(df)]


def canonical_order(df: pd.DataFrame) -> list[str]:
    """Column order every written table uses."""
    return ([RUN_ID, STUDY, *weight_columns(df), RUNG, FIDELITY, COST, *metric_columns(df),
             *pool_columns(df), STATUS, SEED, STARTED_AT, FINISHED_AT])


def resolve_metric(name: str, df_or_metrics: pd.DataFrame | Sequence[str]) -> str:
    """Map a user's metric name (``acc``, ``m:acc`` or an imported ``metric_acc``) to its column.

    Accepting the name as it appeared in the source CSV spares users from learning the prefix rule.
    """
    available = (metric_columns(df_or_metrics) if isinstance(df_or_metrics, pd.DataFrame)
                 else [c if c.startswith(METRIC_PREFIX) else METRIC_PREFIX + c
                       for c in df_or_metrics])
    column = name if name.startswith(METRIC_PREFIX) else METRIC_PREFIX + name
    if column in available:
        return column
    # A source-prefixed name such as ``metric_avg`` for the column ``m:avg``.
    suffix_matches = [c for c in available
                      if name.endswith(c[len(METRIC_PREFIX):])
                      and name[: len(name) - len(c) + len(METRIC_PREFIX)].endswith(("_", ":"))]
    if len(suffix_matches) == 1:
        return suffix_matches[0]
    shown = ", ".join(c[len(METRIC_PREFIX):] for c in available) or "none"
    raise ValidationError(f"unknown metric {name!r}; the table has: {shown}", where="--objective")


def _place(source: str, df: pd.DataFrame, idx: int, column: str | None) -> str:
    """``source, row N (run_id=...), column C`` with N 1-based over data rows."""
    where = f"{source}, row {idx + 1}"
    if RUN_ID in df.columns:
        rid = df[RUN_ID].iloc[idx]
        if isinstance(rid, str) and rid:
            where += f" (run_id={rid!r})"
    if column is not None:
        where += f", column {column!r}"
    return where


class CellError(ValidationError):
    """Bad cells, placed also as data: ``rows`` (0-based, the reported one first) and ``column``
    (None: the whole row), so the importer can name them in the file's own terms."""

    def __init__(self, message: str, *, where: str, rows: Sequence[int],
                 column: str | None) -> None:
        super().__init__(message, where=where)
        self.rows = tuple(int(r) for r in rows)
        self.column = column


def _fail(source: str, df: pd.DataFrame, rows: Sequence[int], column: str | None,
          problem: str) -> CellError:
    more = f" ({len(rows) - 1} more rows have the same problem)" if len(rows) > 1 else ""
    return CellError(problem + more, where=_place(source, df, int(rows[0]), column), rows=rows,
                     column=column)


def _as_float(df: pd.DataFrame, column: str, source: str) -> pd.Series:
    """Numeric view of a column; a non-numeric cell is an error naming it."""
    raw = df[column]
    if pd.api.types.is_bool_dtype(raw):
        raise ValidationError("expected numbers, got booleans", where=f"{source}, column "
                              f"{column!r}")
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype("float64")
    values = np.empty(len(raw), dtype="float64")
    for i, cell in enumerate(raw):
        if cell is None or cell is pd.NA or (isinstance(cell, str) and not cell.strip()):
            values[i] = np.nan
            continue
        try:
            if isinstance(cell, bool):
                raise TypeError
            values[i] = float(cell)  # accepts "nan" and "inf": later checks name them
        except (TypeError, ValueError):
            raise _fail(source, df, [i], column, f"not a number: {cell!r}") from None
    return pd.Series(values, index=raw.index)


def _as_string(df: pd.DataFrame, column: str, source: str, *, required: bool) -> pd.Series:
    raw = df[column]
    missing = raw.isna().to_numpy().copy()
    if required:
        missing |= (raw.astype(str) == "").to_numpy()
        if missing.any():
            raise _fail(source, df, np.flatnonzero(missing), column, "missing value")
    bad = [i for i, v in enumerate(raw) if not missing[i] and not isinstance(v, str)]
    if bad:
        raise _fail(source, df, bad, column, f"expected text, got {raw.iloc[bad[0]]!r}")
    return raw.where(~pd.Series(missing, index=raw.index), "").astype(object)


def _as_timestamp(df: pd.DataFrame, column: str, source: str) -> pd.Series:
    raw = df[column]
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_dtype(raw):
        return raw.dt.tz_localize("UTC").astype("datetime64[ns, UTC]")
    text = raw.replace("", np.nan)
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    for i, value in enumerate(text):
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
            continue
        try:
            stamp = pd.Timestamp(value)
            out.iloc[i] = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert(
                "UTC")
        except (ValueError, TypeError, OverflowError):
            raise _fail(source, df, [i], column, f"not a timestamp: {value!r}") from None
    return out


def _as_seed(df: pd.DataFrame, column: str, source: str) -> pd.Series:
    values = _as_float(df, column, source)
    bad = [i for i, v in enumerate(values) if not math.isnan(v)
           and (not math.isfinite(v) or v != round(v) or abs(v) >= 2**53)]
    if bad:
        raise _fail(source, df, bad, column, f"seed must be an integer, got {values.iloc[bad[0]]}")
    return values.astype("Int64")


def validate_runs(df: pd.DataFrame, *, source: str = "runs table",
                  rungs: Sequence[str] | None = None,
                  weight_tol: float = DEFAULT_WEIGHT_TOL) -> tuple[pd.DataFrame, ValidationReport]:
    """Check a runs table against the schema and return it with canonical dtypes.

    Weight rows within ``weight_tol`` of summing to 1 are renormalized (the largest deviation is
    reported); anything else wrong raises :class:`ValidationError` naming the row and column.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(f"expected a table, got {type(df).__name__}", where=source)
    if not all(isinstance(c, str) for c in df.columns):
        raise ValidationError("column names must be text", where=source)
    dupes = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dupes:
        raise ValidationError(f"duplicate columns {dupes}", where=source)
    missing = [c for c in FIXED_COLUMNS if c not in df.columns]
    if missing:
        raise ValidationError(f"missing columns {missing}", where=source)
    wcols, mcols = weight_columns(df), metric_columns(df)
    if not wcols:
        raise ValidationError(f"no weight columns (named '{WEIGHT_PREFIX}<domain>')", where=source)
    pcols = pool_columns(df)
    bare = [c for c in wcols + mcols + pcols if c in (WEIGHT_PREFIX, METRIC_PREFIX, POOL_PREFIX)]
    if bare:
        raise ValidationError(f"columns {bare} have no domain or metric name", where=source)
    unknown = [c for c in df.columns if c not in FIXED_COLUMNS and c not in wcols + mcols + pcols]
    if unknown:
        raise ValidationError(f"unknown columns {unknown}: expected {list(FIXED_COLUMNS)}, "
                              f"'{WEIGHT_PREFIX}<domain>', '{METRIC_PREFIX}<metric>' and "
                              f"'{POOL_PREFIX}<covariate>'",
                              where=source)

    df = df.reset_index(drop=True)
    out = pd.DataFrame(index=df.index)
    out[RUN_ID] = _as_string(df, RUN_ID, source, required=True)
    dup_mask = out[RUN_ID].duplicated(keep=False).to_numpy()
    if dup_mask.any():
        first = int(np.flatnonzero(dup_mask)[0])
        same = np.flatnonzero(out[RUN_ID].to_numpy() == out[RUN_ID].iloc[first])
        raise CellError(f"duplicate run id {out[RUN_ID].iloc[first]!r} (also at rows "
                        f"{[int(i) + 1 for i in same[1:MAX_LISTED + 1]]})",
                        where=_place(source, df, first, RUN_ID), rows=same, column=RUN_ID)
    out[STUDY] = _as_string(df, STUDY, source, required=False)
    out[RUNG] = _as_string(df, RUNG, source, required=True)
    out[STATUS] = _as_string(df, STATUS, source, required=True)
    if rungs is not None:
        bad = np.flatnonzero(~out[RUNG].isin(list(rungs)).to_numpy())
        if len(bad):
            raise _fail(source, df, bad, RUNG, f"unknown fidelity rung {out[RUNG].iloc[bad[0]]!r}"
                        f"; the ladder has {list(rungs)}")
    bad = np.flatnonzero(~out[STATUS].isin(STATUSES).to_numpy())
    if len(bad):
        raise _fail(source, df, bad, STATUS, f"status must be one of {list(STATUSES)}, got "
                    f"{out[STATUS].iloc[bad[0]]!r}")

    fidelity = _as_float(df, FIDELITY, source)
    bad = np.flatnonzero(~(np.isfinite(fidelity.to_numpy()) & (fidelity.to_numpy() > 0)))
    if len(bad):
        raise _fail(source, df, bad, FIDELITY, f"fidelity must be a positive finite number, got "
                    f"{fidelity.iloc[bad[0]]}")
    for rung, group in fidelity.groupby(out[RUNG], sort=False):
        if group.nunique() > 1:
            rows = [int(i) for i in group.index[group != group.iloc[0]]]
            raise _fail(source, df, rows, FIDELITY, f"rung {rung!r} has fidelity {group.iloc[0]}"
                        f" elsewhere; one rung must have one fidelity value")
    out[FIDELITY] = fidelity
    cost = _as_float(df, COST, source)
    bad = np.flatnonzero(~(np.isfinite(cost.to_numpy()) & (cost.to_numpy() >= 0)))
    if len(bad):
        raise _fail(source, df, bad, COST, f"cost must be a finite number >= 0, got "
                    f"{cost.iloc[bad[0]]}")
    out[COST] = cost

    weights = np.column_stack([_as_float(df, c, source).to_numpy() for c in wcols])
    for j, col in enumerate(wcols):
        column = weights[:, j]
        for problem, mask in (("missing weight", np.isnan(column)),
                              ("weight is not finite", np.isinf(column)),
                              ("negative weight", column < 0)):
            bad = np.flatnonzero(mask)
            if len(bad):
                raise _fail(source, df, bad, col, f"{problem}: {column[bad[0]]}")
    deviation = np.abs(weights.sum(axis=1) - 1.0) if len(weights) else np.zeros(0)
    bad = np.flatnonzero(deviation > weight_tol)
    if len(bad):
        total = weights[bad[0]].sum()
        raise _fail(source, df, bad, None, f"weights sum to {total:.6g}, off 1 by "
                    f"{abs(total - 1):.3g} (tolerance {weight_tol})")
    # Rows already at 1 up to rounding stay untouched, so validation is idempotent and tables
    # round-trip exactly.
    needs = deviation > RENORMALIZE_ABOVE
    renormalized = int(np.count_nonzero(needs))
    if renormalized:
        weights = weights.copy()
        weights[needs] = weights[needs] / weights[needs].sum(axis=1, keepdims=True)
    for j, col in enumerate(wcols):
        out[col] = weights[:, j]

    completed = (out[STATUS] == COMPLETED).to_numpy()
    for col in mcols:
        values = _as_float(df, col, source)
        arr = values.to_numpy()
        for problem, mask in (("metric is NaN or missing", np.isnan(arr) & completed),
                              ("metric is infinite", np.isinf(arr))):
            bad = np.flatnonzero(mask)
            if len(bad):
                raise _fail(source, df, bad, col, f"{problem} in a completed run")
        out[col] = values
    for col in pcols:  # missing (NaN) where a run did not record its pool
        values = _as_float(df, col, source)
        bad = np.flatnonzero(np.isinf(values.to_numpy()) | (values.to_numpy() < 0))
        if len(bad):
            raise _fail(source, df, bad, col, f"pool covariate must be a finite number >= 0, "
                        f"got {values.iloc[bad[0]]}")
        out[col] = values

    out[SEED] = _as_seed(df, SEED, source)
    out[STARTED_AT] = _as_timestamp(df, STARTED_AT, source)
    out[FINISHED_AT] = _as_timestamp(df, FINISHED_AT, source)
    both = out[STARTED_AT].notna() & out[FINISHED_AT].notna()
    bad = np.flatnonzero((both & (out[FINISHED_AT] < out[STARTED_AT])).to_numpy())
    if len(bad):
        raise _fail(source, df, bad, FINISHED_AT, "finished_at is before started_at")

    max_dev = float(deviation.max()) if len(deviation) else 0.0
    report = ValidationReport(n_rows=len(out), max_weight_deviation=max_dev,
                              renormalized_rows=renormalized)
    return out[canonical_order(out)], report


def _read_csv_text(path: Path) -> pd.DataFrame:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"not UTF-8 text (byte {exc.start})", where=str(path)) from None
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise ValidationError(f"malformed CSV: {exc}", where=str(path)) from None


def read_raw(path: str | Path) -> pd.DataFrame:
    """Read a ``.parquet`` or ``.csv`` table as stored, before validation."""
    path = Path(path)
    if not path.exists():
        raise ValidationError("file not found", where=str(path))
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv_text(path)
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
            raise ValidationError(f"unreadable Parquet: {exc}", where=str(path)) from None
    raise ValidationError("expected a .parquet or .csv file", where=str(path))


def read_runs(path: str | Path, *, rungs: Sequence[str] | None = None,
              weight_tol: float = DEFAULT_WEIGHT_TOL) -> pd.DataFrame:
    """Read and validate a runs table from ``.parquet`` or ``.csv``."""
    table, _ = validate_runs(read_raw(path), source=str(path), rungs=rungs,
                             weight_tol=weight_tol)
    return table


def write_runs(df: pd.DataFrame, path: str | Path, *, source: str | None = None,
               rungs: Sequence[str] | None = None) -> pd.DataFrame:
    """Validate, then atomically write a runs table as Parquet or CSV (by suffix)."""
    path = Path(path)
    table, _ = validate_runs(df, source=source or str(path), rungs=rungs)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        atomic_write(path, lambda p: table.to_csv(p, index=False,
                                                   date_format="%Y-%m-%dT%H:%M:%S.%f%z"))
    elif suffix in (".parquet", ".pq"):
        atomic_write(path, lambda p: table.to_parquet(p, index=False))
    else:
        raise ValidationError("expected a .parquet or .csv file name", where=str(path))
    return table


def append_runs(new_rows: pd.DataFrame, path: str | Path, *,
                rungs: Sequence[str] | None = None) -> pd.DataFrame:
    """Append rows to the table at ``path`` (created if absent), atomically and validated whole.

    A bad new row (duplicate id, NaN metric, ...) raises and leaves the file as it was.
    """
    path = Path(path)
    new_table, _ = validate_runs(new_rows, source="new rows", rungs=rungs)
    if path.exists():
        combined = pd.concat([read_runs(path, rungs=rungs), new_table], ignore_index=True)
    else:
        combined = new_table
    return write_runs(combined, path, rungs=rungs)


def mixture_keys(df: pd.DataFrame) -> pd.Series:
    """A hashable key per row identifying its mixture, to match the same mixture across rungs
    (the one rule: :func:`admire.space.mixture_keys_array`)."""
    weights = mixture_keys_array(df[weight_columns(df)].to_numpy(dtype=float))
    return pd.Series([tuple(row) for row in weights.tolist()], index=df.index)


def empty_runs(domain_names: Sequence[str], metric_names: Sequence[str]) -> pd.DataFrame:
    """A valid, empty runs table with the given domains and metrics."""
    columns = ([RUN_ID, STUDY, *[WEIGHT_PREFIX + d for d in domain_names], RUNG, FIDELITY, COST,
                *[METRIC_PREFIX + m for m in metric_names], STATUS, SEED, STARTED_AT, FINISHED_AT])
    table = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return validate_runs(table)[0]

"""The runs-table schema: validation names row and column; round trips are exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admire.errors import ValidationError
from admire.schema import runs


def make_table(n: int = 3, domains: tuple[str, ...] = ("a", "b"), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(len(domains)), size=n)
    data: dict[str, object] = {"run_id": [f"r{i}" for i in range(n)], "study": "s"}
    for j, d in enumerate(domains):
        data[f"w:{d}"] = w[:, j]
    data.update({"rung": ["small"] * n, "fidelity": 0.5, "cost": 1.0,
                 "m:loss": rng.normal(size=n), "status": "completed", "seed": list(range(n)),
                 "started_at": pd.Timestamp("2026-01-01", tz="UTC"),
                 "finished_at": pd.Timestamp("2026-01-02", tz="UTC")})
    return pd.DataFrame(data)


def test_valid_table_has_canonical_columns_and_dtypes():
    table, report = runs.validate_runs(make_table())
    assert list(table.columns) == runs.canonical_order(table)
    assert table["seed"].dtype == "Int64"
    assert str(table["started_at"].dtype) == "datetime64[ns, UTC]"
    assert report.n_rows == 3


def test_weights_within_tolerance_are_renormalized_and_deviation_reported():
    df = make_table()
    df.loc[1, "w:a"] += 0.005
    table, report = runs.validate_runs(df)
    assert np.allclose(table[["w:a", "w:b"]].sum(axis=1), 1.0, atol=1e-12)
    assert report.renormalized_rows == 1
    assert report.max_weight_deviation == pytest.approx(0.005, rel=1e-6)


@pytest.mark.parametrize(("column", "value", "problem"), [
    ("w:a", -0.2, "negative weight"),
    ("w:a", np.nan, "missing weight"),
    ("w:b", 5.0, "weights sum to"),
    ("m:loss", np.nan, "metric is NaN"),
    ("m:loss", np.inf, "infinite"),
    ("cost", -1.0, "cost must be"),
    ("status", "exploded", "status must be"),
    ("seed", 1.5, "seed must be an integer"),
])
def test_bad_cell_names_row_and_column(column, value, problem):
    df = make_table()
    df[column] = df[column].astype(object)
    df.loc[2, column] = value
    with pytest.raises(ValidationError) as err:
        runs.validate_runs(df, source="t.csv")
    message = str(err.value)
    assert problem in message
    assert "t.csv, row 3 (run_id='r2')" in message
    if problem != "weights sum to":
        assert repr(column) in message


def test_unknown_rung_and_duplicate_ids_are_named():
    df = make_table()
    with pytest.raises(ValidationError, match=r"row 1 .*column 'rung'.*unknown fidelity rung"):
        runs.validate_runs(df, rungs=["big"])
    df.loc[2, "run_id"] = "r0"
    with pytest.raises(ValidationError, match=r"row 1 \(run_id='r0'\).*duplicate run id"):
        runs.validate_runs(df)


def test_cell_errors_carry_rows_and_column_for_callers_that_rename():
    df = make_table(n=4)
    df["m:loss"] = df["m:loss"].astype(object)
    df.loc[[1, 3], "m:loss"] = np.nan
    with pytest.raises(runs.CellError) as err:
        runs.validate_runs(df, source="t.csv")
    assert (err.value.rows, err.value.column) == ((1, 3), "m:loss")
    assert str(err.value).startswith("t.csv, row 2 (run_id='r1'), column 'm:loss': metric is")
    df = make_table(n=4)
    df.loc[3, "run_id"] = "r0"
    with pytest.raises(runs.CellError) as err:
        runs.validate_runs(df)
    assert (err.value.rows, err.value.column) == ((0, 3), "run_id")


def test_failed_runs_may_lack_metrics():
    df = make_table()
    df.loc[0, "status"] = "failed"
    df.loc[0, "m:loss"] = np.nan
    table, _ = runs.validate_runs(df)
    assert table["m:loss"].isna().sum() == 1


def test_schema_errors_name_the_problem():
    with pytest.raises(ValidationError, match="missing columns"):
        runs.validate_runs(make_table().drop(columns=["cost"]))
    with pytest.raises(ValidationError, match="unknown columns"):
        runs.validate_runs(make_table().assign(extra=1))
    with pytest.raises(ValidationError, match="no weight columns"):
        runs.validate_runs(make_table().drop(columns=["w:a", "w:b"]))


def test_append_is_atomic_and_keeps_the_file_on_error(tmp_path):
    path = tmp_path / "runs.parquet"
    runs.write_runs(make_table(), path)
    before = path.read_bytes()
    bad = make_table(1)  # run id r0 collides
    with pytest.raises(ValidationError, match="duplicate run id"):
        runs.append_runs(bad, path)
    assert path.read_bytes() == before
    good = make_table(1).assign(run_id="r9")
    combined = runs.append_runs(good, path)
    assert len(combined) == 4 and len(runs.read_runs(path)) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_resolve_metric_accepts_prefixes():
    cols = ["m:avg_id+ood", "m:avg_id"]
    assert runs.resolve_metric("avg_id+ood", cols) == "m:avg_id+ood"
    assert runs.resolve_metric("m:avg_id", cols) == "m:avg_id"
    assert runs.resolve_metric("metric_avg_id+ood", cols) == "m:avg_id+ood"
    with pytest.raises(ValidationError, match="unknown metric 'nope'"):
        runs.resolve_metric("nope", cols)


# --- property tests -------------------------------------------------------------------------

names = st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N"]), min_size=1,
                max_size=8)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_subnormal=False)
stamps = st.one_of(st.none(), st.datetimes(min_value=pd.Timestamp("2000-01-01").to_pydatetime(),
                                           max_value=pd.Timestamp("2100-01-01").to_pydatetime()))


@st.composite
def valid_tables(draw) -> pd.DataFrame:
    n = draw(st.integers(0, 6))
    domains = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    metric_names = draw(st.lists(names, min_size=0, max_size=3, unique=True))
    ids = draw(st.lists(names, min_size=n, max_size=n, unique=True))
    rungs = draw(st.lists(st.sampled_from(["lo", "mid", "hi"]), min_size=n, max_size=n))
    fid = {"lo": 0.1, "mid": 0.4, "hi": 1.0}
    data: dict[str, object] = {"run_id": ids, "study": draw(st.sampled_from(["", "study-1"]))}
    raw = [draw(st.lists(st.floats(0.0, 10.0, allow_subnormal=False), min_size=len(domains),
                         max_size=len(domains))) for _ in range(n)]
    weights = []
    for row in raw:
        total = sum(row)
        weights.append([1.0 / len(row)] * len(row) if total < 1e-3 else [v / total for v in row])
    for j, d in enumerate(domains):
        data[f"w:{d}"] = [row[j] for row in weights]
    data["rung"] = rungs
    data["fidelity"] = [fid[r] for r in rungs]
    data["cost"] = draw(st.lists(st.floats(0, 1e4, allow_subnormal=False), min_size=n,
                                 max_size=n))
    for m in metric_names:
        data[f"m:{m}"] = draw(st.lists(finite, min_size=n, max_size=n))
    data["status"] = draw(st.lists(st.sampled_from(runs.STATUSES), min_size=n, max_size=n))
    data["seed"] = draw(st.lists(st.one_of(st.none(), st.integers(0, 2**31)), min_size=n,
                                 max_size=n))
    started = draw(st.lists(stamps, min_size=n, max_size=n))
    data["started_at"] = [None if s is None else pd.Timestamp(s, tz="UTC") for s in started]
    data["finished_at"] = [None if s is None else pd.Timestamp(s, tz="UTC") + pd.Timedelta(
        seconds=5) for s in started]
    return pd.DataFrame(data, columns=list(data))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_tables(), st.sampled_from([".parquet", ".csv"]))
def test_valid_tables_round_trip_exactly(tmp_path_factory, df, suffix):
    table, _ = runs.validate_runs(df)
    path = tmp_path_factory.mktemp("rt") / f"runs{suffix}"
    written = runs.write_runs(table, path)
    back = runs.read_runs(path)
    pd.testing.assert_frame_equal(back, written, check_exact=True)
    pd.testing.assert_frame_equal(written, table, check_exact=True)


CORRUPTIONS = st.sampled_from(["negative", "nan_weight", "sum", "nan_metric", "inf_metric",
                               "dup_id", "bad_status", "text_cost", "no_id", "drop_col",
                               "extra_col", "bad_stamp", "bad_seed", "bad_fidelity"])


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_tables(), CORRUPTIONS, st.data())
def test_invalid_tables_raise_validation_error_only(df, corruption, data):
    if len(df) < 2:
        df = pd.concat([df, make_table(2).iloc[:0]]) if len(df) else df
    if len(df) < 2 or not any(c.startswith("m:") for c in df.columns):
        df = make_table(3)
    df = df.astype(object)
    i = data.draw(st.integers(0, len(df) - 1))
    wcol = [c for c in df.columns if c.startswith("w:")][0]
    mcol = [c for c in df.columns if c.startswith("m:")][0]
    if corruption == "negative":
        df.loc[i, wcol] = -0.5
    elif corruption == "nan_weight":
        df.loc[i, wcol] = np.nan
    elif corruption == "sum":
        df.loc[i, wcol] = float(df.loc[i, wcol]) + 0.5
    elif corruption == "nan_metric":
        df.loc[i, mcol] = np.nan
        df.loc[i, "status"] = "completed"
    elif corruption == "inf_metric":
        df.loc[i, mcol] = -np.inf
    elif corruption == "dup_id":
        df.loc[i, "run_id"] = df.loc[(i + 1) % len(df), "run_id"]
    elif corruption == "bad_status":
        df.loc[i, "status"] = "running?"
    elif corruption == "text_cost":
        df.loc[i, "cost"] = "cheap"
    elif corruption == "no_id":
        df.loc[i, "run_id"] = None
    elif corruption == "drop_col":
        df = df.drop(columns=[data.draw(st.sampled_from(list(runs.FIXED_COLUMNS)))])
    elif corruption == "extra_col":
        df["notes"] = "x"
    elif corruption == "bad_stamp":
        df.loc[i, "started_at"] = "yesterday-ish"
    elif corruption == "bad_seed":
        df.loc[i, "seed"] = 0.25
    elif corruption == "bad_fidelity":
        df.loc[i, "fidelity"] = 0.0
    with pytest.raises(ValidationError):
        runs.validate_runs(df, source="generated")

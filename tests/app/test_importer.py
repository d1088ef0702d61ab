"""Importing wide CSVs: the released dataset's facts, and errors that name row and column."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from conftest import ADMIRE_ORDER, DATASET_CSV

from admire.app import importer
from admire.errors import ValidationError
from admire.schema import runs

IMPORT_ARGS = ["--fidelity-column", "model", "--fidelity-order", ADMIRE_ORDER,
               "--cost-column", "train_time"]


def admire_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "admire", *args], capture_output=True,
                          text=True, timeout=120)


def test_import_reproduces_the_datasheet(admire_table):
    table = admire_table
    assert len(table) == 460
    assert table.groupby("rung").size().to_dict() == {
        "Qwen2.5-0.5B": 256, "Qwen2.5-3B": 128, "Qwen2.5-7B": 76}
    keys = runs.mixture_keys(table)
    rungs_per_mixture = table.groupby(keys)["rung"].nunique()
    assert (rungs_per_mixture == 3).sum() == 76
    assert (rungs_per_mixture == 2).sum() == 52
    assert (rungs_per_mixture == 1).sum() == 128
    target = table[table["rung"] == "Qwen2.5-7B"]
    assert target["m:avg_id+ood"].max() == pytest.approx(0.593815, abs=5e-7)
    assert len(runs.domains(table)) == 19 and len(runs.metrics(table)) == 20
    means = table.groupby("rung")["cost"].mean()
    assert means["Qwen2.5-7B"] == pytest.approx(537.5, abs=0.1)


def test_vendored_parquet_equals_a_fresh_import(admire_table):
    fresh = importer.import_wide_csv(DATASET_CSV, fidelity_column="model",
                                     fidelity_order=ADMIRE_ORDER.split(","),
                                     cost_column="train_time", study="admire_ift_runs").table
    pd.testing.assert_frame_equal(fresh, admire_table)


def test_cli_import_then_validate(tmp_path):
    out = tmp_path / "runs.parquet"
    done = admire_cli("runs", "import", str(DATASET_CSV), "--out", str(out), *IMPORT_ARGS)
    assert done.returncode == 0, done.stderr
    assert "wrote 460 runs" in done.stdout
    check = admire_cli("runs", "validate", str(out))
    assert check.returncode == 0 and "valid, 460 runs" in check.stdout
    info = admire_cli("runs", "info", str(out), "--metric", "metric_avg_id+ood")
    assert info.returncode == 0 and "0.593815" in info.stdout


def _corrupt(tmp_path, row: int, column: str, value: str):
    lines = DATASET_CSV.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(column)] = value
    lines[row] = ",".join(cells)
    src = tmp_path / "corrupt.csv"
    src.write_text("\n".join(lines) + "\n")
    return src


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("ratio_flan_v2_converted", "-0.3", "column 'w:flan_v2_converted': negative weight"),
    ("metric_gsm8k::tulu", "nan", "column 'm:gsm8k::tulu': metric is NaN"),
    ("model", "Qwen2.5-70B", "column 'model': unknown fidelity rung 'Qwen2.5-70B'"),
])
def test_corrupted_cell_is_named_and_existing_output_untouched(tmp_path, column, value, expected):
    src = _corrupt(tmp_path, row=42, column=column, value=value)
    out = tmp_path / "out.parquet"
    out.write_bytes(b"previous contents")
    done = admire_cli("runs", "import", str(src), "--out", str(out), *IMPORT_ARGS)
    assert done.returncode == 2
    assert "row 42 (run_id='corrupt-00041')" in done.stderr
    assert expected in done.stderr.replace("\n", "")
    assert "Traceback" not in done.stderr
    assert out.read_bytes() == b"previous contents"


def test_rung_costs_and_any_layout(tmp_path):
    src = tmp_path / "wide.csv"
    src.write_text("size,p_x,p_y,p_z,score_a,score_b\n"
                   "S,0.2,0.3,0.5,1.0,2.0\nL,0.5,0.5,0.0,1.5,2.5\nS,1,0,0,0.1,0.2\n")
    result = importer.import_wide_csv(src, fidelity_column="size", fidelity_order=["S", "L"],
                                      weight_prefix="p_", metric_prefix="score_",
                                      rung_costs={"S": 0.1, "L": 1.0})
    table = result.table
    assert runs.domains(table) == ["x", "y", "z"] and runs.metrics(table) == ["a", "b"]
    assert table["cost"].tolist() == [0.1, 1.0, 0.1]
    assert result.rung_fidelity == {"S": pytest.approx(0.1), "L": 1.0}


def test_importer_option_errors(tmp_path):
    with pytest.raises(ValidationError, match="exactly one of --cost-column and --rung-cost"):
        importer.import_wide_csv(DATASET_CSV, fidelity_column="model",
                                 fidelity_order=ADMIRE_ORDER.split(","))
    with pytest.raises(ValidationError, match="no column 'size'"):
        importer.import_wide_csv(DATASET_CSV, fidelity_column="size",
                                 fidelity_order=["a"], cost_column="train_time")
    with pytest.raises(ValidationError, match="--rung-cost"):
        importer.parse_mapping("A=1,B", option="--rung-cost")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"model,ratio_a\n\xff\xfe,1\n")
    with pytest.raises(ValidationError, match="not UTF-8"):
        importer.import_wide_csv(bad, fidelity_column="model", fidelity_order=["x"],
                                 rung_costs={"x": 1.0})

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
    ("ratio_flan_v2_converted", "-0.3", "column 'ratio_flan_v2_converted': negative weight"),
    ("metric_gsm8k::tulu", "nan", "column 'metric_gsm8k::tulu': metric is NaN"),
    ("model", "Qwen2.5-70B", "column 'model': unknown fidelity rung 'Qwen2.5-70B'"),
])
def test_corrupted_cell_is_named_and_existing_output_untouched(tmp_path, column, value, expected):
    src = _corrupt(tmp_path, row=42, column=column, value=value)
    out = tmp_path / "out.parquet"
    out.write_bytes(b"previous contents")
    done = admire_cli("runs", "import", str(src), "--out", str(out), *IMPORT_ARGS)
    assert done.returncode == 2
    assert "corrupt.csv, data row 42 (line 43), column" in done.stderr
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


# --- real users' files -------------------------------------------------------------------------

def _write(tmp_path, text: str, name: str = "runs.csv", *, encoding: str = "utf-8",
           newline: str = "\n"):
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def _import(path, **options):
    options.setdefault("fidelity_column", "size")
    options.setdefault("fidelity_order", ["S", "L"])
    options.setdefault("rung_costs", {"S": 1.0, "L": 4.0})
    return importer.import_wide_csv(path, **options)


PLAIN = ("size,code,math,web,loss,acc,notes\n"
         "S,0.5,0.3,0.2,2.5,0.4,first\n"
         "S,0.2,0.3,0.5,2.1,0.5,\n"
         "L,0.1,0.1,0.8,1.9,0.6,best\n")


def test_plain_column_names_by_explicit_lists(tmp_path):
    result = _import(_write(tmp_path, PLAIN), weight_columns=["code", "math", "web"],
                     metric_columns=["loss", "acc"])
    assert runs.domains(result.table) == ["code", "math", "web"]
    assert runs.metrics(result.table) == ["loss", "acc"]
    assert result.table["m:loss"].tolist() == [2.5, 2.1, 1.9]
    assert result.domains == {"code": "code", "math": "math", "web": "web"}
    assert result.ignored_columns == ["notes"]


def test_lists_and_prefixes_combine(tmp_path):
    src = _write(tmp_path, "size,mix_code,mix_math,web,loss,metric_acc\n"
                           "S,0.5,0.3,0.2,2.5,0.4\nL,0.1,0.1,0.8,1.9,0.6\n")
    result = _import(src, weight_prefix="mix_", weight_columns=["web"], metric_columns=["loss"],
                     metric_prefix="metric_")
    assert result.domains == {"code": "mix_code", "math": "mix_math", "web": "web"}
    assert result.metrics == {"loss": "loss", "acc": "metric_acc"}
    with pytest.raises(ValidationError, match=r"--weight-columns: no column 'wbe' in the file; "
                                              r"did you mean 'web'\?"):
        _import(src, weight_prefix="mix_", weight_columns=["wbe"], metric_columns=["loss"])
    with pytest.raises(ValidationError, match=r"no weight columns: none start with 'ratio_'"):
        _import(src, metric_columns=["loss"])


def test_run_id_column_keeps_ids_and_duplicates_name_both_rows(tmp_path):
    src = _write(tmp_path, "id,size,ratio_a,ratio_b,metric_x\n"
                           "run-7,S,0.5,0.5,1\nrun-9,L,0.2,0.8,2\n")
    assert _import(src, run_id_column="id").table["run_id"].tolist() == ["run-7", "run-9"]
    dup = _write(tmp_path, "id,size,ratio_a,ratio_b,metric_x\n"
                           "run-7,S,0.5,0.5,1\n\nrun-7,L,0.2,0.8,2\n", name="dup.csv")
    with pytest.raises(ValidationError, match=r"dup.csv, column 'id': duplicate run id 'run-7': "
                                              r"data row 1 \(line 2\) and data row 2 \(line 4\)"):
        _import(dup, run_id_column="id")


@pytest.mark.parametrize(("delimiter", "name"), [(";", "';'"), ("\t", "tab"), ("|", "'|'")])
def test_delimiter_is_sniffed(tmp_path, delimiter, name):
    text = PLAIN.replace(",", delimiter)
    result = _import(_write(tmp_path, text), weight_columns=["code", "math", "web"],
                     metric_columns=["loss", "acc"])
    assert (result.delimiter, result.sniffed) == (delimiter, True)
    assert result.table["w:web"].tolist() == [0.2, 0.5, 0.8]
    assert f"delimiter {name} (detected)" in importer.report_lines(result, "runs.csv")[0]


def test_a_single_column_file_names_the_likely_delimiter(tmp_path):
    src = _write(tmp_path, PLAIN.replace(",", ";"))
    with pytest.raises(ValidationError, match=r"single column 'size;code;.*' with the given "
                                              r"delimiter ',': the delimiter is probably wrong; "
                                              r"it looks like ';' \(pass --delimiter ';'\)"):
        _import(src, delimiter=",", weight_columns=["code"])


def test_report_lists_sources_rungs_ignored_columns_and_typos(tmp_path):
    src = _write(tmp_path, "size,mix_code,mix_cdoe,mix_math,mx_web,loss,notes\n"
                           "S,0.5,0,0.5,0,2.5,a\nS,0.2,0,0.8,0,2.1,b\nL,0.1,0,0.9,0,1.9,c\n")
    result = _import(src, weight_prefix="mix_", metric_columns=["loss"])
    lines = importer.report_lines(result, "runs.csv")
    assert "domains (3): code <- mix_code, cdoe <- mix_cdoe, math <- mix_math" in lines
    assert "metrics (1): loss" in lines
    assert "rungs: S (fidelity 0.25): 2 rows; L (fidelity 1): 1 row" in lines
    assert "ignored columns (2): mx_web, notes" in lines
    assert result.typos == [
        "weight columns 'mix_code' and 'mix_cdoe' have close names: if one is a typo of the "
        "other, one domain was split into two",
        "ignored column 'mx_web' looks like a weight column with a misspelt prefix (the weight "
        "prefix is 'mix_')"]


def test_a_dropped_typo_column_is_named_in_the_weight_error(tmp_path):
    src = _write(tmp_path, "size,ratio_a,ratio_b,rati_c,metric_x\nS,0.2,0.3,0.5,1\n")
    with pytest.raises(ValidationError) as err:
        _import(src)
    assert str(err.value) == (
        f"{src}, data row 1 (line 2): weights sum to 0.5, off 1 by 0.5 (tolerance 0.01); note: "
        "ignored column 'rati_c' looks like a weight column with a misspelt prefix (the weight "
        "prefix is 'ratio_')")


def test_the_vendored_dataset_raises_no_typo_flags():
    result = importer.import_wide_csv(DATASET_CSV, fidelity_column="model",
                                      fidelity_order=ADMIRE_ORDER.split(","),
                                      cost_column="train_time")
    assert result.typos == [] and result.ignored_columns == []


def test_errors_use_the_users_column_names_and_file_lines(tmp_path):
    # A quoted value spanning two lines and a blank line shift lines away from row numbers.
    src = _write(tmp_path, 'size,mix_code,mix_math,loss,notes\n'
                           'S,0.5,0.5,2.5,"two\nlines"\n\n'
                           'L,0.5,abc,1.9,x\n')
    with pytest.raises(ValidationError) as err:
        _import(src, weight_prefix="mix_", metric_columns=["loss"])
    assert str(err.value) == (f"{src}, data row 2 (line 5), column 'mix_math': not a number: "
                              "'abc'")
    european = _write(tmp_path, "size;mix_a;mix_b;loss\nS;0,5;0,5;1\n", name="eu.csv")
    with pytest.raises(ValidationError, match=r"data row 1 \(line 2\), column 'mix_a': not a "
                                              r"number: '0,5'; decimal commas are not read"):
        _import(european, weight_prefix="mix_", metric_columns=["loss"])
    bad_rung = _write(tmp_path, "size,mix_a,mix_b,loss\nS,0.5,0.5,1\nl,0.5,0.5,1\n", name="r.csv")
    with pytest.raises(ValidationError, match=r"data row 2 \(line 3\), column 'size': unknown "
                                              r"fidelity rung 'l' \(did you mean 'L'\?\)"):
        _import(bad_rung, weight_prefix="mix_", metric_columns=["loss"])


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty file: no header and no data rows"),
    ("\n\n", "empty file: no header and no data rows"),
    ("size,ratio_a,ratio_b,metric_x\n", r"no data rows: the file has a header only \(4 columns\)"),
    ("size,ratio_a,ratio_b,metric_x\nS,0.5,0.5,1,7\n",
     r"data row 1 \(line 2\): has 5 fields, the header has 4"),
    ("size,ratio_a,ratio_a,metric_x\nS,0.5,0.5,1\n",
     r"column 'ratio_a' appears twice in the header \(columns 2 and 3\)"),
])
def test_empty_header_only_and_ragged_files_are_explained(tmp_path, text, problem):
    with pytest.raises(ValidationError, match=problem):
        _import(_write(tmp_path, text), cost_column=None, rung_costs={"S": 1.0})


def test_bom_crlf_quoted_delimiters_and_trailing_commas_import(tmp_path):
    text = ('size,ratio_a,ratio_b,metric_x,note,\n'
            'S,0.5,0.5,1,"a, b",\n'
            ',,,,,\n'
            'L,0.2,0.8,2,"say ""hi""",\n')
    for encoding in ("utf-8-sig", "utf-16"):
        result = _import(_write(tmp_path, text, encoding=encoding, newline="\r\n"))
        assert list(result.table["w:a"]) == [0.5, 0.2]
        assert result.ignored_columns == ["note"] and result.skipped_rows == 1
        assert result.domains == {"a": "ratio_a", "b": "ratio_b"}


def test_cli_import_prints_the_report(tmp_path):
    src = _write(tmp_path, PLAIN.replace(",", ";").replace("size;", "id;size;", 1).replace(
        "\nS;0.5", "\nr1;S;0.5").replace("\nS;0.2", "\nr2;S;0.2").replace("\nL;", "\nr3;L;"))
    out = tmp_path / "runs.parquet"
    done = admire_cli("runs", "import", str(src), "--out", str(out), "--fidelity-column", "size",
                      "--fidelity-order", "S,L", "--rung-cost", "S=1,L=4", "--weight-columns",
                      "code,math,web", "--metric-columns", "loss,acc", "--run-id-column", "id")
    assert done.returncode == 0, done.stderr
    assert "delimiter ';' (detected)" in done.stdout
    assert "domains (3): code, math, web" in done.stdout
    assert "rungs: S (fidelity 0.25): 2 rows; L (fidelity 1): 1 row" in done.stdout
    assert "run ids: from column 'id'" in done.stdout
    assert "ignored columns (1): notes" in done.stdout
    assert runs.read_runs(out)["run_id"].tolist() == ["r1", "r2", "r3"]


def test_cost_and_option_errors_name_the_users_column_or_option(tmp_path):
    src = _write(tmp_path, "size,ratio_a,ratio_b,metric_x,gpu_hours\n"
                           "S,0.5,0.5,1,2\nL,0.5,0.5,1,-1\n")
    with pytest.raises(ValidationError, match=r"data row 2 \(line 3\), column 'gpu_hours': cost "
                                              r"must be a finite number >= 0, got -1.0"):
        _import(src, cost_column="gpu_hours", rung_costs=None)
    with pytest.raises(ValidationError, match=r"--rung-cost: rungs \['M'\] are not in "
                                              r"--fidelity-order \['S', 'L'\]"):
        _import(src, rung_costs={"S": 1.0, "M": 2.0, "L": 3.0})
    with pytest.raises(ValidationError, match=r"no column 'gpu_hour' \(--cost-column\); did you "
                                              r"mean 'gpu_hours'\?"):
        _import(src, cost_column="gpu_hour", rung_costs=None)

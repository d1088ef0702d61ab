"""The command line a new user meets: --version, check, runs info's direction, and one clear
error line (exit 2, no traceback, no library noise) for bad input to every command."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import DATASET_PARQUET, REPO
from typer.testing import CliRunner

from admire.app.cli import app
from admire.app.metric_direction import metric_direction
from admire.schema import runs

EXAMPLE = REPO / "examples" / "local-cpu.toml"
NOISE = re.compile(r"Sparse invariant checks|SEGFAULT|Started a local Ray instance|"
                   r"Token authentication is enabled|UserWarning|FutureWarning")


def admire_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "admire", *args], capture_output=True,
                          text=True, timeout=timeout)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def small_table(tmp_path: Path) -> Path:
    """Two rungs; on the cheap rung the lowest loss (1.5) and the highest (3.0) differ."""
    table = runs.empty_runs(["a", "b"], ["val_loss", "acc"])
    rows = [("r0", 0.5, "S", 0.25, 1.0, 3.0, 0.2), ("r1", 0.2, "S", 0.25, 1.0, 1.5, 0.9),
            ("r2", 0.7, "L", 1.0, 4.0, 2.0, 0.5)]
    table = pd.DataFrame([{**{c: None for c in table.columns}, "run_id": rid, "study": "t",
                           "w:a": a, "w:b": 1 - a, "rung": rung, "fidelity": fid, "cost": cost,
                           "m:val_loss": loss, "m:acc": acc, "status": "completed"}
                          for rid, a, rung, fid, cost, loss, acc in rows])
    path = tmp_path / "small.parquet"
    runs.write_runs(table, path)
    return path


def config_with(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text().replace("../fidelities", str(REPO / "fidelities"))
    assert old in text
    path = tmp_path / "study.toml"
    path.write_text(text.replace(old, new))
    return path


# --- --version and check -----------------------------------------------------------------------

def test_version_comes_from_the_package_metadata():
    done = admire_cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"admire {importlib.metadata.version('admire')}"


def test_check_prints_a_summary_of_a_valid_config():
    result = invoke("check", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"{EXAMPLE}: valid study 'local-cpu'" in out
    assert "multilingual: weight in [0, 1], max_epochs 1 (built-in)" in out
    assert "base-2M: cost estimate 70, fidelity 1" in out
    assert "objective: objective (lower is better; minimize)" in out
    assert "policy: screen-confirm" in out
    assert "budget: 8 target-rung runs (about 560 in the ladder's cost units)" in out
    assert "training tokens per trial at most: 262,144" in out
    assert ("then, outside the budget: the recommendation trained at 'base-2M' with 2 fresh "
            "seed(s)") in out.replace("\n", " ")


@pytest.mark.parametrize(("old", "new", "message"), [
    ("budget = 8.0", "budget = -1", "study.budget: Input should be greater than 0, got -1"),
    ('mean_over = ["dialogue"', 'mean_over = ["dialog"', "unknown domains ['dialog']"),
    ("max_bytes = 2_000_000", "max_bites = 2", "proxy.corpus"),
    # what tune would refuse once started: a domain that is no built-in, a budget that
    # cannot pay for the reference runs trained first
    ('name = "code"', 'name = "poetry"', "domain 'poetry': unknown built-in domain 'poetry'"),
    ("budget = 8.0", "budget = 1.5", "study.budget: 1.5 target-rung runs cannot pay for the "
                                     "study's 2 reference run(s)"),
])
def test_check_rejects_bad_study_and_proxy_fields(tmp_path, old, new, message):
    config = config_with(tmp_path, old, new)
    result = invoke("check", str(config))
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert str(config) in " ".join(result.output.split())  # the file is named


def test_a_small_budget_without_references_passes_check(tmp_path):
    result = invoke("check", str(config_with(tmp_path, "budget = 8.0",
                                             "budget = 1.5\nreferences = []")))
    assert result.exit_code == 0, result.output


def test_tune_names_the_config_file_of_an_unknown_built_in_domain(tmp_path):
    config = config_with(tmp_path, 'name = "code"', 'name = "poetry"')
    result = invoke("tune", str(config), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert f"{config}: domains.poetry: unknown built-in domain 'poetry'" in text
    budget = config_with(tmp_path, "budget = 8.0", "budget = 0.1")
    result = invoke("tune", str(budget), "--out", str(tmp_path / "out2"))
    assert result.exit_code == 2
    assert "0.1 target-rung runs cannot pay" in " ".join(result.output.split())
    assert not (tmp_path / "out2" / "study.json").exists()  # refused before anything ran


def test_check_rejects_a_bad_trainer_spec(tmp_path):
    ladder = tmp_path / "ladder.toml"
    ladder.write_text((REPO / "fidelities" / "cpu-tiny.toml").read_text().replace(
        "tokens = 196_608", "tokens = 196_607", 1))
    config = config_with(tmp_path, str(REPO / "fidelities" / "cpu-tiny.toml"), str(ladder))
    result = invoke("check", str(config))
    assert result.exit_code == 2
    assert "rung 'tiny-0.1M'" in result.output and "196607 is not a multiple" in result.output


# --- runs info knows the direction -------------------------------------------------------------

@pytest.mark.parametrize(("name", "minimize"), [
    ("val_loss", True), ("valloss", True), ("bpb", True), ("ppl", True), ("perplexity", True),
    ("eval/error", True), ("nll:math", True), ("errors", True), ("acc", False),
    ("avg_id+ood", False), ("nllb_bleu", False), ("lossless_acc", False)])
def test_direction_is_inferred_from_the_metric_name(name, minimize):
    assert metric_direction(name, None).minimize is minimize
    assert metric_direction(name, not minimize).minimize is (not minimize)


def test_runs_info_reports_the_min_of_a_loss_and_says_why(tmp_path):
    path = small_table(tmp_path)
    result = invoke("runs", "info", str(path), "--metric", "val_loss")
    assert result.exit_code == 0, result.output
    assert re.search(r"best val_loss \(min\)", result.output)
    assert re.search(r"S\s+│ 0.25\s+│ 2\s+│ 1\s+│ 1.500000", result.output)
    assert "lower is better (inferred: the name contains 'loss'" in result.output
    maximized = invoke("runs", "info", str(path), "--metric", "val_loss", "--maximize")
    assert "3.000000" in maximized.output and "higher is better (--maximize)" in maximized.output
    acc = invoke("runs", "info", str(path), "--metric", "acc")
    assert "0.900000" in acc.output and "higher is better (inferred" in acc.output


def test_runs_info_takes_the_direction_of_a_study_folders_objective(tmp_path):
    path = small_table(tmp_path)  # 'acc' reads as a score by its name: higher is better
    (tmp_path / "study.json").write_text(json.dumps(
        {"config": {"objective": {"metric": "acc", "minimize": True}}}))
    result = invoke("runs", "info", str(path), "--metric", "acc")
    assert result.exit_code == 0, result.output
    assert "best acc (min)" in result.output and "0.200000" in result.output
    assert "lower is better (the study's objective in" in " ".join(result.output.split())
    flag = invoke("runs", "info", str(path), "--metric", "acc", "--maximize")
    assert "0.900000" in flag.output  # the user's flag wins
    other = invoke("runs", "info", str(path), "--metric", "val_loss")
    assert "inferred: the name contains 'loss'" in other.output  # not the study's objective


# --- bad input: one error line, exit 2, no traceback -------------------------------------------

# Runs commands through the console entry point (admire.app.cli:main) in one fresh interpreter,
# so the heavy imports (Ax, torch) are paid once for all cases; anything but SystemExit escaping
# main() prints a traceback and stops the driver, which the tests catch.
DRIVER = """
import contextlib, io, json, sys
from admire.app.cli import main
results = {}
for name, args in json.loads(sys.argv[1]).items():
    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["admire", *args]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code
    results[name] = {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
print(json.dumps(results))
"""


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """Case name -> (arguments, what its one error line must say)."""
    ragged, bad_toml = tmp / "ragged.csv", tmp / "bad.toml"
    imp = ["--out", str(tmp / "o.parquet"), "--fidelity-column", "model", "--fidelity-order",
           "S", "--rung-cost", "S=1"]
    return {
        "import-missing": (["runs", "import", str(tmp / "nope.csv"), *imp],
                           f"{tmp / 'nope.csv'}: file not found"),
        "import-malformed": (["runs", "import", str(ragged), *imp],
                             "data row 1 (line 2): has 5 fields, the header has 4"),
        "import-option": (["runs", "import", str(ragged), *imp, "--weight-tol", "abc"],
                          "Invalid value for '--weight-tol'"),
        "import-delimiter": (["runs", "import", str(ragged), *imp, "--delimiter", "ab"],
                             "--delimiter: expected one character"),
        "import-unwritable": (["runs", "import", str(tmp / "ok.csv"), *imp[2:], "--out",
                               str(ragged / "o.parquet")], f"{ragged / 'o.parquet'}: cannot write"),
        "validate-malformed": (["runs", "validate", str(ragged)], "missing columns"),
        "info-missing": (["runs", "info", str(tmp / "nope.parquet")], "file not found"),
        "info-metric": (["runs", "info", str(DATASET_PARQUET), "--metric", "nope"],
                        "--metric: unknown metric 'nope'"),
        "replay-option": (["replay", str(DATASET_PARQUET), "--objective", "avg_id",
                           "--seeds", "abc"], "Invalid value for '--seeds'"),
        "replay-missing": (["replay", str(tmp / "nope.parquet"), "--objective", "x"],
                           f"{tmp / 'nope.parquet'}: file not found"),
        "tune-config": (["tune", str(bad_toml), "--out", str(tmp / "out")],
                        "study.budget: Input should be a valid number, got 'lots'"),
        "recommend-missing": (["recommend", str(tmp / "nothing")], str(tmp / "nothing")),
        "check-config": (["check", str(bad_toml)], "study.budget: Input should be a valid number"),
        "check-missing": (["check", str(tmp / "nope.toml")], "nope.toml: file not found"),
        "unknown-command": (["chek", str(bad_toml)], "No such command 'chek'"),
    }


CASES = list(_bad_inputs(Path("/x")))


@pytest.fixture(scope="module")
def bad_input_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    (tmp / "ragged.csv").write_text("model,ratio_a,ratio_b,metric_x\nS,0.5,0.5,1,9\n")
    (tmp / "ok.csv").write_text("model,ratio_a,ratio_b,metric_x\nS,0.5,0.5,1\n")
    (tmp / "bad.toml").write_text("[study]\nname = 'x'\nbudget = 'lots'\n")
    cases = _bad_inputs(tmp)
    done = subprocess.run([sys.executable, "-c", DRIVER,
                           json.dumps({name: args for name, (args, _) in cases.items()})],
                          capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    return cases, json.loads(done.stdout)


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_one_error_line_and_exit_2(bad_input_results, case):
    cases, results = bad_input_results
    result, expected = results[case], cases[case][1]
    assert result["code"] == 2, result
    errors = [line for line in result["stderr"].splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result["stderr"]
    assert expected in errors[0]
    assert "Traceback" not in result["stderr"]
    assert not NOISE.search(result["stdout"] + result["stderr"])


def test_python_m_admire_exits_2_with_the_error_line(tmp_path):
    done = admire_cli("runs", "info", str(tmp_path / "nope.parquet"))
    assert done.returncode == 2
    assert done.stderr == f"error: {tmp_path / 'nope.parquet'}: file not found\n"


def test_recommend_names_a_damaged_study_file(tmp_path):
    (tmp_path / "study.json").write_text("{", encoding="utf-8")
    result = invoke("recommend", str(tmp_path))
    assert result.exit_code == 2
    assert "study.json: not a readable study file" in result.output


def test_replay_refuses_an_unusable_out_before_running(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    result = invoke("replay", "runs_dataset/admire_ift_runs.parquet", "--objective",
                    "avg_id+ood", "--methods", "random", "--seeds", "1", "--budget", "1",
                    "--out", str(blocker / "sub"))
    assert result.exit_code == 2 and "--out" in result.output

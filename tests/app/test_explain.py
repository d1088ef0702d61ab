"""``admire explain`` on a small generated runs table: every file, the numbers they share, and
one clear error line (exit 2) for an unknown objective, an unknown rung and an empty rung."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import make_config, score
from typer.testing import CliRunner

from admire.app.cli import app
from admire.app.explain import explain
from admire.app.study_plots import write_recommendation
from admire.problems.synthetic import SyntheticSpec, generate
from admire.schema import runs
from admire.study import Study
from admire.study.loop import run_function

FILES = ("explain.json", "explain.md", "effects.png", "interactions.png",
         "predicted_vs_actual.png", "rung_correlation.png", "budget.png")


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    problem = generate(SyntheticSpec(k=3, rows_per_rung=(30, 20), cost_ratio=5.0,
                                     rank_corr=0.8, noise=0.1), seed=1)
    path = tmp_path_factory.mktemp("explain") / "runs.csv"
    runs.write_runs(problem.table, path)
    return path


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_cli_writes_every_file_and_they_agree(table: Path, tmp_path: Path) -> None:
    result = invoke("explain", str(table), "--out", str(tmp_path), "--points", "8")
    assert result.exit_code == 0, result.output
    for name in FILES:
        assert (tmp_path / name).stat().st_size > 0, name
    data = json.loads((tmp_path / "explain.json").read_text())
    head = data["header"]
    assert head["objective"] == "loss" and head["direction"] == "minimize"
    assert head["rung"] == "r1" and head["n_runs_at_rung"] == 20
    assert [e["domain"] for e in data["effects"]] == ["d00", "d01", "d02"]
    for e in data["effects"]:
        for where in ("at_recommendation", "average"):
            row = e[where]
            assert row["lower90"] <= row["mean"] <= row["upper90"]
            assert row["verdict"] == ("unclear" if row["lower90"] <= 0 <= row["upper90"]
                                      else "helps" if row["mean"] < 0 else "hurts")
    assert np.allclose(data["interactions"]["mean"], np.transpose(data["interactions"]["mean"]))
    assert data["cv"]["n"] == 20 and -1 <= data["cv"]["spearman"] <= 1
    assert [r["rung"] for r in data["budget"]["per_rung"]] == ["r0", "r1"]
    assert sum(r["runs"] for r in data["budget"]["per_rung"]) == 50
    assert data["rung_correlation"]["observed"][0]["n_mixtures"] == 20
    md = (tmp_path / "explain.md").read_text()
    assert "loss (minimize) at rung r1" in md and "## Caveats" in md
    assert "only 20 runs" not in md  # 20 >= MIN_RUNS
    assert f"{data['cv']['r2']:.3g}" in md or "R² -" in md


def test_explain_at_a_cheaper_rung_and_from_python(table: Path) -> None:
    result = explain(table, rung="r0", n_points=4)
    assert result.header["rung"] == "r0" and result.cv["n"] == 30
    assert result.to_dict()["header"]["n_runs"] == 50
    assert all(w >= 0 for w in result.recommendation["mixture"].values())


@pytest.mark.parametrize(("args", "message"), [
    (["--objective", "accuracy"], "unknown metric 'accuracy'"),
    (["--rung", "r9"], "unknown rung 'r9'"),
])
def test_bad_input_is_one_line_exit_2(table: Path, tmp_path: Path, args: list[str],
                                      message: str) -> None:
    result = invoke("explain", str(table), "--out", str(tmp_path), *args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "explain.json").exists()


def test_a_rung_without_runs_is_named(tmp_path: Path, table: Path) -> None:
    frame = runs.read_runs(table)
    frame.loc[frame[runs.RUNG] == "r1", runs.STATUS] = runs.FAILED
    frame.loc[frame[runs.RUNG] == "r1", "m:loss"] = np.nan
    path = tmp_path / "failed_target.csv"
    runs.write_runs(frame, path)
    result = invoke("explain", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "no completed runs with loss at rung 'r1'" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished study folder as ``admire tune`` leaves it (no Ray: a known function)."""
    study = Study(make_config(3, policy="screen-confirm", budget=6.0, max_trials=None,
                              initial_trials=4))
    run_function(study, score)
    out = tmp_path_factory.mktemp("study")
    study.save(out)
    write_recommendation(study, study.recommend(), out, {})
    return out


def test_a_study_folder_brings_its_objective_ladder_and_recommendation(study_dir: Path,
                                                                       tmp_path: Path) -> None:
    saved = json.loads((study_dir / "recommendation.json").read_text())["recommendation"]
    result = invoke("explain", str(study_dir), "--out", str(tmp_path), "--points", "8")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "explain.json").read_text())
    head = data["header"]
    assert head["kind"] == "study" and head["objective"] == "score"
    assert head["direction"] == "maximize" and head["direction_reason"] == "the study's objective"
    assert head["rungs"] == ["small", "medium", "large"] and head["rung"] == "large"
    assert data["recommendation"]["mixture"] == pytest.approx(saved["mixture"])
    assert data["recommendation"]["basis"] == "the study's"
    # score() is best near 0.6 on d0: moving weight onto d0 helps around most mixtures.
    assert data["effects"][0]["average"]["mean"] > 0
    # Another metric of the same study: its direction is inferred, not the study's.
    other = explain(study_dir, objective="other", n_points=4)
    assert other.header["direction_reason"].startswith("inferred")
    assert other.recommendation["basis"] != "the study's"


def test_a_missing_path_and_a_folder_that_is_no_study_are_named(tmp_path: Path) -> None:
    for source, message in ((tmp_path / "nope.parquet", "nope.parquet: not found"),
                            (tmp_path, "not a study folder (study.json missing)")):
        result = invoke("explain", str(source), "--out", str(tmp_path / "out"))
        assert result.exit_code == 2 and message in result.output, result.output

"""``admire recommend DIR --pool``: a recommendation for a new pool, with its interval and how
far it extrapolates; bad pool files fail with one line naming the file, field and value."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_config, score
from typer.testing import CliRunner

from admire.app.cli import app
from admire.app.recommend_pool import recommend_for_pool
from admire.bo.policies.options import ModelOptions
from admire.bo.reach import withheld_note
from admire.bo.surrogate import MIN_LOO
from admire.proxy.pool_state import pool_covariates
from admire.study import Study

RUNG_TOKENS = {"small": 1000, "medium": 2000, "large": 4000}
TRAIN = "[train_tokens]\nsmall = 1000\nmedium = 2000\nlarge = 4000\n"


def _pool(tokens: dict[str, float]) -> str:
    return "tokens = { " + ", ".join(f"{d} = {v}" for d, v in tokens.items()) + " }\n" + TRAIN


TARGET_MIXTURES = ({"d0": 0.6, "d1": 0.2, "d2": 0.2}, {"d0": 0.2, "d1": 0.6, "d2": 0.2},
                   {"d0": 0.2, "d1": 0.2, "d2": 0.6}, {"d0": 0.4, "d1": 0.4, "d2": 0.2},
                   {"d0": 0.3, "d1": 0.3, "d2": 0.4})


def _saved_study(folder: Path, target_runs: int = len(TARGET_MIXTURES), **options: object
                 ) -> Path:
    """A saved study whose runs recorded their pool (two pool states): 12 proposals (all at
    the cheapest rung) and ``target_runs`` runs at the target."""
    study = Study(make_config(initial_trials=12, **options))
    pools = ({"d0": 500, "d1": 4000, "d2": 4000}, {"d0": 2000, "d1": 2000, "d2": 4000})
    trials = [(p.trial_index, p.mixture, p.rung) for p in study.propose(12)]
    trials += [(study.attach(m, "large"), m, "large") for m in TARGET_MIXTURES[:target_runs]]
    for i, (index, mixture, rung) in enumerate(trials):
        metrics, cost = score(mixture, rung)
        cov = pool_covariates(mixture, pools[i % 2], RUNG_TOKENS[rung])
        study.complete(index, metrics, cost, covariates=cov)
    study.save(folder)
    return folder


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory) -> Path:
    return _saved_study(tmp_path_factory.mktemp("study") / "s")


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_recommend_for_a_larger_pool_writes_json_and_stays_within_range(study_dir, tmp_path):
    pool = tmp_path / "big.toml"
    pool.write_text(_pool({"d0": 50_000, "d1": 40_000, "d2": 40_000}), encoding="utf-8")
    out = tmp_path / "rec.json"
    result = invoke("recommend", str(study_dir), "--pool", str(pool), "--out", str(out))
    assert result.exit_code == 0, result.output
    rec = json.loads(out.read_text(encoding="utf-8"))
    weights = np.array(list(rec["mixture"].values()))
    assert weights.sum() == pytest.approx(1.0, abs=1e-6)
    assert rec["lower90"] <= rec["predicted"] <= rec["upper90"]
    assert rec["epochs"]["d0"] == pytest.approx(rec["mixture"]["d0"] * 4000 / 50_000, rel=1e-3)
    assert rec["extrapolation"]["outside"] == []  # fewer epochs: within 0..max seen
    assert "within the range" in result.output and str(out) in result.output
    assert rec["n_pool_states"] == 2 and "one pool state" not in result.output
    assert rec["model"]["rung_scale"] == ModelOptions().rung_scale  # the study's, by default
    assert rec["interval_note"] is None


def test_the_pool_recommendation_withholds_its_interval_below_min_loo_target_runs(tmp_path):
    folder = _saved_study(tmp_path / "s", target_runs=MIN_LOO - 1)
    pool = tmp_path / "big.toml"
    pool.write_text(_pool({"d0": 50_000, "d1": 40_000, "d2": 40_000}), encoding="utf-8")
    result = invoke("recommend", str(folder), "--pool", str(pool))
    assert result.exit_code == 0, result.output
    rec = json.loads((folder / "recommendation_pool.json").read_text(encoding="utf-8"))
    assert rec["lower90"] is None and rec["upper90"] is None
    assert rec["interval_note"] == withheld_note(MIN_LOO - 1)
    assert "interval for the mean" not in result.output
    assert "no 90% interval yet" in " ".join(result.output.split())  # rich wraps lines


def test_the_pool_recommendation_fits_the_studys_own_model(tmp_path):
    study_dir = _saved_study(tmp_path / "s", rung_scale="rung", kernel="linear")
    pool = tmp_path / "big.toml"
    pool.write_text(_pool({"d0": 50_000, "d1": 40_000, "d2": 40_000}), encoding="utf-8")
    result = invoke("recommend", str(study_dir), "--pool", str(pool))
    assert result.exit_code == 0, result.output
    rec = json.loads((study_dir / "recommendation_pool.json").read_text(encoding="utf-8"))
    assert rec["model"] == {"surrogate": "icm", "kernel": "linear", "rung_scale": "rung",
                            "rung_level": "runs"}


def test_a_much_smaller_pool_is_reported_as_an_extrapolation(study_dir, tmp_path):
    pool = tmp_path / "tiny.toml"
    pool.write_text(_pool({"d0": 20, "d1": 20, "d2": 20}), encoding="utf-8")
    result = invoke("recommend", str(study_dir), "--pool", str(pool), "--pool-features",
                    "epochs+tokens")
    assert result.exit_code == 0, result.output
    rec = json.loads((study_dir / "recommendation_pool.json").read_text(encoding="utf-8"))
    assert rec["features"] == "epochs+tokens"
    outside = rec["extrapolation"]["outside"]  # >= 66 epochs of some domain; training saw <= 8
    assert {"log pool:tokens:d0", "log pool:tokens:d1"} <= set(outside)
    assert "extrapolates" in result.output
    bad = invoke("recommend", str(study_dir), "--pool", str(pool), "--pool-features", "none")
    assert bad.exit_code == 2 and "--pool-features" in bad.output


def test_runs_without_pool_columns_need_runs_pool(tmp_path):
    study = Study(make_config(initial_trials=6))
    for proposal in study.propose(6):
        study.complete(proposal.trial_index, *score(proposal.mixture, proposal.rung))
    study.save(tmp_path / "s")
    pool = tmp_path / "p.toml"
    pool.write_text(_pool({"d0": 500, "d1": 500, "d2": 500}), encoding="utf-8")
    result = invoke("recommend", str(tmp_path / "s"), "--pool", str(pool))
    assert result.exit_code == 2 and "pool:tokens:d0" in result.output
    result = invoke("recommend", str(tmp_path / "s"), "--pool", str(pool), "--runs-pool",
                    str(pool))
    assert result.exit_code == 0, result.output
    assert "one pool state" in result.output
    rec = json.loads((tmp_path / "s" / "recommendation_pool.json").read_text(encoding="utf-8"))
    assert rec["n_pool_states"] == 1


@pytest.mark.parametrize(("text", "expected"), [
    ("tokens = { d0 = 1, d1 = 1 }\n" + TRAIN, "missing domains ['d2']"),
    ("tokens = { d0 = 1, d1 = -3, d2 = 1 }\n" + TRAIN, "tokens.d1: must be a number > 0, got -3"),
    ("tokens = { d0 = 1, d1 = 1, d2 = 1, zz = 2 }\n" + TRAIN, "unknown domains ['zz']"),
    ("tokenz = 3\n", "unknown fields ['tokenz']"),
    ("tokens = { d0 = 1, d1 = 1, d2 = 1 }\n", "give its training tokens as train_tokens.small"),
    ("tokens = { d0 = 1, d1 = 1, d2 = 1 }\n[train_tokens]\nhuge = 5\n", "unknown rungs"),
    ("tokens = [\n", "not valid TOML"),
])
def test_bad_pool_files_name_file_field_and_value(study_dir, tmp_path, text, expected):
    pool = tmp_path / "bad.toml"
    pool.write_text(text, encoding="utf-8")
    result = invoke("recommend", str(study_dir), "--pool", str(pool))
    assert result.exit_code == 2
    assert expected in result.output and str(pool) in result.output
    assert "Traceback" not in result.output


def test_the_pool_recommendation_does_not_depend_on_torchs_global_generator(study_dir,
                                                                             tmp_path):
    """torch seeds its generator afresh in every process, and BoTorch draws from it while
    fitting: the same study and pool must give the same answer in any process."""
    pool = tmp_path / "big.toml"
    pool.write_text(_pool({"d0": 50_000, "d1": 40_000, "d2": 40_000}), encoding="utf-8")
    answers = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        answers.append(recommend_for_pool(study_dir, pool, out=tmp_path / f"{seed}.json",
                                          features="epochs+tokens"))
    assert answers[0]["mixture"] == answers[1]["mixture"]
    assert answers[0]["predicted"] == answers[1]["predicted"]

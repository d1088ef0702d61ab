"""Live tuning end to end on an embedded Ray cluster: micro proxies, seconds per trial."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ax.core.trial_status import TrialStatus
from helpers import make_config, score
from live_helpers import embedded_ray, fake_work, slow_first_work, write_study
from typer.testing import CliRunner

from admire.app.cli import app
from admire.app.study_plots import PLOTS
from admire.app.tune import LiveHooks, tune, with_repetition_bounds
from admire.errors import ConfigError
from admire.schema import runs
from admire.schema.config import DomainConfig, load_config
from admire.schema.warm_start import WarmStartConfig
from admire.study import Study
from admire.study.loop import RERUN_KEY, run_function

runner = CliRunner()


@pytest.fixture(scope="module")
def cluster():
    with embedded_ray():
        yield


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("corpora")


def test_repetition_limits_become_weight_upper_bounds(tmp_path, cache):
    config = load_config(write_study(tmp_path, cache, code_max_epochs=0.5))
    bounded = with_repetition_bounds(config, {"math": 100_000, "scripture": 100_000,
                                              "code": 16_384})
    uppers = {d.name: d.upper for d in bounded.domains}
    assert uppers == {"math": 1.0, "scripture": 1.0, "code": 0.5}  # 0.5 * 16384 / 16384
    limited = replace(config, domains=tuple(d.model_copy(update={"max_epochs": 1.0})
                                            for d in config.domains))
    with pytest.raises(ConfigError, match="repetition limits leave no mixture"):
        with_repetition_bounds(limited, {"math": 1000, "scripture": 1000, "code": 1000})
    floor = replace(limited, domains=(limited.domains[0].model_copy(update={"lower": 0.2}),
                                      *limited.domains[1:]))
    with pytest.raises(ConfigError) as err:
        with_repetition_bounds(floor, {"math": 100, "scripture": 10**6, "code": 10**6})
    assert err.value.where == "domain 'math'"


@pytest.mark.parametrize(("extra", "where"), [
    ('colour = "blue"', "proxy"),
    ('objective = { mean_over = ["poetry"] }', "proxy.objective"),
])
def test_bad_proxy_tables_fail_before_any_cluster_starts(tmp_path, cache, extra, where):
    config = write_study(tmp_path, cache, extra_proxy=extra)
    if "objective" in extra:  # replace the default objective line
        text = config.read_text().replace('objective = { mean_over = ["math", "code"] }\n', "")
        config.write_text(text)
    result = runner.invoke(app, ["tune", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert f"{where}:" in result.output.replace("\n", "")


def test_an_existing_study_is_not_overwritten_without_resume(tmp_path, cache):
    config = write_study(tmp_path, cache)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "study.json").write_text("{}")
    result = runner.invoke(app, ["tune", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "--resume" in result.output


@pytest.mark.slow
def test_tune_cli_runs_a_micro_study_and_writes_its_outputs(tmp_path, cache, cluster):
    config = write_study(tmp_path, cache, max_trials=4, code_max_epochs=0.15,
                         confirm_seeds=None)  # admire's default: confirmed with 2 fresh seeds
    out = tmp_path / "out"
    result = runner.invoke(app, ["tune", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "max_trials reached (4)" in result.output
    table = runs.read_runs(out / "runs.parquet")
    assert len(table) == 4 and (table[runs.STATUS] == runs.COMPLETED).all()
    assert table["m:objective"].notna().all() and (table[runs.COST] > 0).all()
    # each trial's pool state, as the worker saw it (micro ladder: 8,192 / 16,384 tokens)
    drawn = table["pool:drawn:code"].to_numpy()
    tokens = table[runs.RUNG].map({"r0": 8192, "r1": 16384}).to_numpy(float)
    assert np.allclose(drawn, np.round(table["w:code"].to_numpy() * tokens), atol=1)
    assert np.allclose(table["pool:epochs:code"], drawn / table["pool:tokens:code"])
    # code may repeat 0.15 epochs at 16,384 tokens per trial: a bound below 1 every run keeps
    upper = {d.name: d.upper for d in Study.load(out).config.domains}["code"]
    assert upper < 0.9 and (table["w:code"] <= upper + 1e-9).all()
    rec = json.loads((out / "recommendation.json").read_text())
    assert rec["recommendation"]["rung"] == "r1"
    assert sum(rec["recommendation"]["mixture"].values()) == pytest.approx(1.0)
    assert rec["stop_reason"] == "max_trials reached (4)" and rec["failures"] == []
    # one seed for every trial (the study's, no [proxy] seed here); the recommendation is then
    # trained at the target with fresh seeds 1 and 2, outside the study and its budget
    assert rec["trial_seed"] == Study.load(out).config.seed == 0
    assert len(table) == 4  # not in the runs table
    evaluations = json.loads((out / "evaluations.json").read_text())["evaluations"]
    assert sorted((e["name"], e["rung"], e["seed"]) for e in evaluations) == [
        ("recommended", "r1", 1), ("recommended", "r1", 2)]
    assert all(e["weights"] == pytest.approx(rec["recommendation"]["mixture"])
               for e in evaluations)
    confirmed = rec["confirmation"]
    fresh = {str(e["seed"]): e["value"] for e in evaluations}
    assert {k: v for k, v in confirmed["values"].items() if k != "0"} == fresh
    mixture = rec["recommendation"]["mixture"]
    same = np.all([np.isclose(table[f"w:{d}"], w, atol=1e-6) for d, w in mixture.items()], 0)
    own = table[(table[runs.RUNG] == "r1") & same]
    assert ("0" in confirmed["values"]) == (len(own) > 0)
    assert confirmed["run_lower90"] < confirmed["mean"] < confirmed["run_upper90"]
    assert "confirmed at r1" in rec["seed_noise"] and "confirmed at r1" in result.output
    for plot in PLOTS:
        assert (out / plot).stat().st_size > 1000
    shown = runner.invoke(app, ["recommend", str(out)])
    assert shown.exit_code == 0 and "recommended mixture at r1" in shown.output
    assert "confirmed at r1" in shown.output  # the fresh seeds, read from evaluations.json
    # four trials hold fewer than MIN_LOO target runs: no model interval, and every output
    # says why (the confirmation's interval, from fresh seeds alone, stands)
    assert rec["recommendation"]["lower90"] is None
    assert rec["recommendation"]["interval_note"].startswith("no 90% interval yet")
    for output in (result.output, shown.output):
        assert "no 90% interval yet" in " ".join(output.split())


@pytest.mark.slow
def test_killed_worker_is_retried_once_then_failed_and_the_study_goes_on(tmp_path, cache,
                                                                         cluster):
    killed: list[int] = []

    def kill_trial_0(pool, request, attempt):
        if request.trial_index == 0:
            pid = pool.pid_of(0)
            time.sleep(0.5)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    config = write_study(tmp_path, cache, max_trials=4)
    result = tune(config, tmp_path / "out", work=slow_first_work, on_start=kill_trial_0)
    assert len(killed) == 2 and killed[0] != killed[1]
    study = result.study
    assert study.trials_by_status(TrialStatus.FAILED) == [0]
    assert study.n_completed == 3 and result.recommendation is not None
    table = runs.read_runs(tmp_path / "out" / "runs.parquet")
    assert table.set_index(runs.RUN_ID).loc["micro-00000", runs.STATUS] == runs.FAILED
    (failure,) = json.loads((tmp_path / "out" / "recommendation.json").read_text())["failures"]
    assert failure["trial"] == 0
    assert failure["reason"].startswith("worker died during the trial (2 attempts)")


@pytest.mark.slow
def test_nan_results_are_failed_never_completed(tmp_path, cache, cluster):
    config = write_study(tmp_path, cache, max_trials=5)
    result = tune(config, tmp_path / "out", work=fake_work)
    study = result.study
    assert study.trials_by_status(TrialStatus.FAILED) == [1]
    reason = study.experiment.trials[1].run_metadata["failure_reason"]
    assert "nan" in reason and "refused" in reason
    data = study.experiment.lookup_data().df
    assert 1 not in set(data["trial_index"])  # the model never saw it
    assert study.n_completed == 4


@pytest.mark.slow
def test_resume_reruns_interrupted_trials_once_then_continues(tmp_path, cache, cluster):
    config = write_study(tmp_path, cache, max_trials=2)
    out = tmp_path / "out"
    tune(config, out, work=fake_work)  # trial 1 fails (NaN), trial 0 completes
    # Simulate a crash with two trials in flight, one of which was already re-run once.
    study = Study.load(out)
    first, second = study.propose(2)
    study.experiment.trials[second.trial_index].update_run_metadata({RERUN_KEY: True})
    study.save(out)
    write_study(tmp_path, cache, max_trials=5)  # resume may raise the limits
    result = tune(config, out, resume=True, work=fake_work)
    assert result.stop_reason == "max_trials reached (5)"
    study = Study.load(out)
    assert study.experiment.trials[first.trial_index].status == TrialStatus.COMPLETED
    assert study.experiment.trials[second.trial_index].status == TrialStatus.FAILED
    assert "interrupted twice" in study.experiment.trials[second.trial_index].run_metadata[
        "failure_reason"]
    assert len(study.experiment.trials) == 5 and not study.trials_by_status(TrialStatus.RUNNING)
    table = pd.read_parquet(out / "runs.parquet")
    assert len(table) == 5


def test_resume_refuses_a_changed_study(tmp_path, cache):
    config = write_study(tmp_path, cache)
    saved = load_config(config)
    study = Study(saved)
    study.save(tmp_path / "out")
    text = config.read_text().replace('"math", "code"', '"math", "scripture"')
    config.write_text(text)
    result = runner.invoke(app, ["tune", str(config), "--out", str(tmp_path / "out"),
                                 "--resume"])
    assert result.exit_code == 2 and "proxy:" in result.output


def test_live_view_renders_flights_rungs_and_recommendation(tmp_path, cache):
    import io

    from helpers import make_config, score
    from rich.console import Console

    from admire.app.view import TuneView
    from admire.evaluators.ray.pool import InFlight
    from admire.evaluators.ray.worker import TrialRequest

    study = Study(make_config(k=3, initial_trials=2, budget=3.0, max_trials=10))
    for proposal in study.propose(2):
        study.complete(proposal.trial_index, *score(proposal.mixture, proposal.rung))
    (running,) = study.propose(1)
    flight = InFlight(TrialRequest(running.trial_index, running.mixture,
                                   study.ladder.rung(running.rung)), slot=None, ref=None,
                      attempt=2)
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    with TuneView(console, study) as view:
        view.event("trial 2 started")
        view.update([flight], study.recommend())
    text = buffer.getvalue()
    assert "spent" in text and "/ 3 target runs" in text and "trials 3 / 10" in text
    assert "in flight" in text and running.rung in text
    assert "recommendation: " in text and "at large" in text


def test_a_warm_started_live_study_shows_an_answer_before_its_first_result(tmp_path):
    old = Study(make_config(mode="continuous", seed=1))
    run_function(old, score, trials=6)
    old.save(tmp_path / "old")
    base = make_config(mode="continuous", seed=0, policy="kg")
    domains = tuple(DomainConfig(name=d) for d in ("d0a", "d0b", "d1", "d2"))
    item = WarmStartConfig(source=str(tmp_path / "old"), split={"d0": {"d0a": 0.5, "d0b": 0.5}})
    warm = Study(replace(base, domains=domains, warm_start=(item,)))
    hooks = LiveHooks(warm, None, tmp_path / "out", None)  # type: ignore[arg-type]
    assert hooks.recommendation is not None and hooks.recommendation.n_observations == 0
    cold = LiveHooks(Study(base), None, tmp_path / "cold", None)  # type: ignore[arg-type]
    assert cold.recommendation is None

"""admire evaluate: mixtures parsed and checked against the study, retrained with fresh seeds."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import make_config
from live_helpers import embedded_ray, seed_noise_work, smooth_work, write_study
from typer.testing import CliRunner

from admire.app.cli import app
from admire.app.evaluate import evaluate, parse_mixture, report
from admire.app.evaluations import load_evaluations
from admire.app.tune import tune
from admire.bo.reach import withheld_note
from admire.bo.surrogate import MIN_LOO
from admire.errors import ValidationError
from admire.schema.config import load_config
from admire.study import Study

runner = CliRunner()
TRIALS_FOR_INTERVALS = 10  # the micro study's trials to reach MIN_LOO target runs


@pytest.fixture(scope="module")
def study() -> Study:
    """Three domains d0..d2 (d2 at most 0.5), a uniform reference attached at the target."""
    config = make_config(k=3)
    config = replace(config, domains=(*config.domains[:2],
                                      config.domains[2].model_copy(update={"upper": 0.5})))
    study = Study(config)
    study.attach({"d0": 0.3, "d1": 0.4, "d2": 0.3}, "large", reference="uniform")
    return study


def parse(spec: str, study: Study, **kwargs):
    def no_tokens():
        raise AssertionError("the corpora were built for a mixture that does not need them")

    return parse_mixture(spec, study, recommended=lambda: {"d0": 1.0, "d1": 0.0, "d2": 0.0},
                         tokens=kwargs.get("tokens", no_tokens))


@pytest.mark.parametrize(("spec", "problem"), [
    ("d0=0.5,math=0.5", "unknown domain 'math'; the study's domains are d0, d1, d2"),
    ("d0=0.5,d1=0.2", "weights sum to 0.7, not 1"),
    ("d0=0.5,d1=x,d2=0.5", "weight of 'd1' must be a number >= 0, got 'x'"),
    ("d0=1.2,d1=-0.2", "weight of 'd1' must be a number >= 0, got '-0.2'"),
    ('{"d0": 0.2, "d2": 0.8}', "weight of 'd2' is 0.8, outside [0.0, 0.5]"),
    ('{"d0": 0.5,', "not valid JSON"),
    ("d0=0.5,d1", "expected domain=weight, got 'd1'"),
    ("best", "unknown mixture 'best': expected recommended, uniform, natural, domain=weight"),
    ("recommended", "the study has no completed trial"),
])
def test_bad_mixtures_name_the_problem(study, spec, problem):
    with pytest.raises(ValidationError) as err:
        parse(spec, study)
    assert err.value.where == f"--mixture {spec}"
    assert problem in err.value.problem


def test_mixtures_by_keyword_pairs_json_and_file(study, tmp_path):
    # the study's own reference is used as it ran, not recomputed
    assert parse("uniform", study).weights == {"d0": 0.3, "d1": 0.4, "d2": 0.3}
    natural = parse("natural", study, tokens=lambda: {"d0": 100, "d1": 300, "d2": 600})
    assert natural.name == "natural" and natural.weights["d2"] == pytest.approx(0.5)
    pairs = parse("mine:d0=0.6, d1=0.4", study)
    assert pairs.name == "mine" and pairs.weights == {"d0": 0.6, "d1": 0.4, "d2": 0.0}
    assert parse('{"d0": 0.3334, "d1": 0.3333, "d2": 0.3333}', study).name == "mixture-1"
    path = tmp_path / "recommendation.json"
    path.write_text(json.dumps({"recommendation": {"mixture": {"d0": 0.5, "d1": 0.5}}}))
    from_file = parse(str(path), study)
    assert from_file.name == "recommendation" and from_file.weights["d1"] == 0.5


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("corpora")


def test_cli_errors_are_one_line_naming_the_problem(tmp_path, cache):
    config = load_config(write_study(tmp_path, cache))
    Study(config).save(tmp_path / "out")
    for args, message in [
        (["--mixture", "math=0.5,cod=0.5"], "--mixture math=0.5,cod=0.5: unknown domain 'cod'"),
        (["--mixture", "math=0.6,code=0.6"], "weights sum to 1.2, not 1"),
        (["--mixture", "uniform", "--rung", "r9"], "--rung: unknown rung 'r9'"),
        (["--mixture", "uniform", "--seeds", "0"], "--seeds: must be >= 1"),
    ]:
        result = runner.invoke(app, ["evaluate", str(tmp_path / "out"), *args])
        assert result.exit_code == 2, result.output
        text = result.output.strip()
        assert text.startswith("error:") and message in text and "Traceback" not in text
    result = runner.invoke(app, ["evaluate", str(tmp_path), "--mixture", "uniform"])
    assert result.exit_code == 2 and "no saved study here" in result.output


@pytest.mark.slow
def test_evaluate_retrains_at_the_cheapest_rung_and_appends(tmp_path, cache):
    config = write_study(tmp_path, cache, max_trials=4)
    out = tmp_path / "out"
    with embedded_ray():
        tune(config, out, work=smooth_work)  # a saved study in seconds: no training
        runs_before = len(Study.load(out).runs)
        lines: list[str] = []
        first = evaluate(out, ["uniform", "mine:math=0.6,scripture=0.1,code=0.3"], 2,
                         rung="r0", on_result=lines.append)
        assert first.trained == 4 and first.reused == 0 and not first.failures
        assert len(lines) == 4
        saved = load_evaluations(out)
        result = runner.invoke(app, ["evaluate", str(out), "--mixture", "uniform",
                                     "--mixture", "natural", "--seeds", "2", "--rung", "r0"])
    assert result.exit_code == 0, result.output
    study = Study.load(out)
    seed = study.config.proxy.get("seed", study.config.seed)
    assert first.seeds == [seed + 1, seed + 2] and first.rung == "r0" and not first.target
    # real training at r0: a byte-level loss, different per seed
    uniform = next(r for r in first.results if r.name == "uniform")
    assert 0 < uniform.mean < 10 and uniform.sd > 0 and len(uniform.values) == 2
    # the second call reused uniform's two runs and trained natural's; nothing was lost
    assert "trained 2, 2 already in evaluations.json" in result.output
    assert f"uniform: objective {uniform.mean:.4f} ± {uniform.sd:.4f} over 2 seed(s)" in (
        result.output)
    after = load_evaluations(out)
    assert after[:4] == saved and len(after) == 6
    assert {e.name for e in after} == {"mine", "uniform", "natural"}
    assert all(e.rung == "r0" and e.cost > 0 for e in after)
    assert not any(e.seed == seed for e in after)
    assert len(study.runs) == runs_before  # the study itself is untouched
    assert "mine vs uniform: " in "\n".join(str(x) for x in report(first))
    assert (out / "objective_vs_cost.png").stat().st_size > 10_000
    assert first.interval_checks == []  # r0 is not the target: no interval to check against


@pytest.mark.slow
def test_evaluate_at_the_target_checks_the_studys_intervals(tmp_path, cache):
    config = write_study(tmp_path, cache, max_trials=4)
    out = tmp_path / "out"
    with embedded_ray():
        tune(config, out, work=smooth_work)
        # too few target runs to check an interval on: none to check, and the report says so
        early = evaluate(out, ["uniform"], 1, work=seed_noise_work)
        early_study = Study.load(out)
        target_runs = int((early_study.history().observations.rung == 1).sum())  # r1
        assert early.target and target_runs < MIN_LOO and early.interval_checks == []
        assert early.interval_note == withheld_note(target_runs)
        assert early.interval_note in report(early)
        write_study(tmp_path, cache, max_trials=TRIALS_FOR_INTERVALS)  # resume for more
        tune(config, out, resume=True, work=smooth_work)
        result = evaluate(out, ["recommended", "uniform", "pure-math:math=1"], 2,
                          work=seed_noise_work)
    study = Study.load(out)
    assert (study.history().observations.rung == 1).sum() >= MIN_LOO
    assert result.interval_note is None
    assert result.target and [c.name for c in result.interval_checks] == [
        "recommended", "uniform", "pure-math"]
    uniform = study.predict(np.array([1 / 3] * 3))
    check = result.interval_checks[1]
    assert (check.lower, check.upper) == (uniform.run_lower90, uniform.run_upper90)
    assert len(check.values) == 2 and check.lower < check.upper
    saved = json.loads((out / "evaluations.json").read_text())["interval_check"]
    assert saved["runs"] == 6 and saved["inside"] == sum(c.inside for c in result.interval_checks)
    assert any(str(line).startswith("live check of the study's 90% intervals")
               for line in report(result))
    # fresh seeds spread the runs, so the other mixture's spread widens each interval to any seed
    widened = {c.name: c for c in result.any_seed_checks}
    assert set(widened) == {"recommended", "uniform", "pure-math"}
    for c in result.interval_checks:
        assert widened[c.name].lower < c.lower and widened[c.name].upper > c.upper
        assert widened[c.name].values == c.values
    any_seed = json.loads((out / "evaluations.json").read_text())["interval_check_any_seed"]
    assert any_seed["runs"] == 6 and any_seed["inside"] >= saved["inside"]
    assert any(str(line).startswith("live check of the same widened by the seed spread")
               for line in report(result))

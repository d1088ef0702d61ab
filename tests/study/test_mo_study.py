"""A multi-objective Study: every tracked metric reaches the policy's history, survives a save
and load, a missing one is refused, and recommendation.json carries the Pareto set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from admire.app.study_plots import write_recommendation
from admire.bo.policies.registry import parse_policy
from admire.errors import AdmireError, ValidationError
from admire.replay.mo import MOReplayProblem
from admire.replay.problem import ReplayProblem
from admire.schema.objectives import ConstraintConfig
from admire.study.loop import run
from admire.study.study import Study

OBJECTIVES = (("avg_id", False), ("avg_ood", False))


@pytest.fixture(scope="module")
def problem(admire_table):
    return MOReplayProblem.from_table(admire_table, OBJECTIVES,
                                      (ConstraintConfig(metric="gsm8k::tulu", min=0.0),))


def test_history_carries_every_outcome_and_survives_a_reload(problem, tmp_path):
    study = problem.study(parse_policy("random"), seed=4, budget=3.0)
    run(study, problem.base.evaluator())
    obs = study.history().observations
    assert obs.outcomes is not None and obs.outcomes.shape == (obs.n, 3)
    table = study.runs
    assert np.allclose(obs.outcomes, table[["m:avg_id", "m:avg_ood", "m:gsm8k::tulu"]])
    assert np.allclose(obs.y, obs.outcomes[:, 0])  # the first objective is the study's
    loaded = Study.load(study.save(tmp_path / "s"))
    assert np.array_equal(loaded.history().observations.outcomes, obs.outcomes)


def test_a_missing_tracked_metric_is_refused(problem):
    study = problem.study(parse_policy("random"), seed=0, budget=2.0)
    proposal = study.propose(1)[0]
    with pytest.raises(ValidationError, match=r"trial 0: metrics \['avg_ood'"):
        study.complete(proposal.trial_index, {"avg_id": 0.5, "gsm8k::tulu": 0.1}, 1.0)


def test_recommendation_json_has_the_pareto_set(problem, tmp_path, admire_table):
    study = problem.study(parse_policy("random"), seed=1, budget=4.0)
    run(study, problem.base.evaluator())
    write_recommendation(study, study.recommend(), tmp_path, {})
    saved = json.loads((tmp_path / "recommendation.json").read_text())
    front = saved["pareto"]
    assert [o["metric"] for o in saved["objectives"]] == ["avg_id", "avg_ood"]
    assert front["basis"] == "observed" and front["pareto_set"]
    assert front["choice"] == front["pareto_set"][front["chosen"]]
    single = ReplayProblem.from_table(admire_table, "avg_id").study(
        parse_policy("random"), seed=1, budget=2.0)
    with pytest.raises(AdmireError, match="needs a study with"):
        single.recommend_pareto()

"""A live study with two objectives: real proxies on Ray, the mobo policy, a Pareto set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from live_helpers import embedded_ray, write_study

from admire.app.tune import tune
from admire.bo.pareto import non_dominated
from admire.study import Study

OBJECTIVES = """[[objectives]]
metric = "val_loss:math"
[[objectives]]
metric = "val_loss:code"
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("corpora")


@pytest.mark.slow
def test_tune_with_two_objectives_recommends_a_pareto_set(tmp_path, cache):
    path = write_study(tmp_path, cache, max_trials=4)
    text = path.read_text(encoding="utf-8")
    text = text.replace('[objective]\nmetric = "objective"\nminimize = true\n', OBJECTIVES)
    # The two reference runs at the target, one screen at r0, then one NEHVI pick at the
    # target: a screen share this small is met by the one screen whatever the runs' timings,
    # and a budget this large never binds (spend is measured seconds; max_trials stops it).
    text = text.replace('name = "kg"\ninitial_trials = 2', 'name = "mobo"\nscreen_share = 0.001')
    text = text.replace("max_trials = 4", "max_trials = 4\nbudget = 40")
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    with embedded_ray():
        tune(path, out)
    study = Study.load(out)
    runs = study.runs
    assert study.n_completed == 4
    assert sorted(runs["rung"]) == ["r0", "r1", "r1", "r1"]
    assert runs[["m:val_loss:math", "m:val_loss:code"]].notna().all().all()  # both recorded
    saved = json.loads((out / "recommendation.json").read_text(encoding="utf-8"))["pareto"]
    assert saved["objectives"] == ["val_loss:math", "val_loss:code"]
    predicted = np.array([[p["predicted"][m] for m in saved["objectives"]]
                          for p in saved["pareto_set"]])
    assert len(predicted) >= 1
    assert non_dominated(-predicted).all()  # losses: lower is better on both
    choice = saved["choice"]["mixture"]
    assert abs(sum(choice.values()) - 1) < 1e-6

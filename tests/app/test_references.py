"""Reference mixtures: what a live study trains at the target beside its recommendation."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest

from admire.app.references import (
    check_budget_pays_for_references,
    reference_count,
    reference_mixtures,
    reference_results,
)
from admire.errors import ConfigError
from admire.schema.config import config_from_dict, config_to_dict
from admire.study import Study

VALID = {
    "study": {"name": "s", "budget": 5.0},
    "objective": {"metric": "loss", "minimize": True},
    "ladder": {"name": "l", "rung": [{"name": "a", "cost_estimate": 1.0},
                                     {"name": "b", "cost_estimate": 4.0}]},
    "domain": [{"name": "x", "lower": 0.1}, {"name": "y"}, {"name": "z", "upper": 0.5}],
}


def _config(references=None):
    data = copy.deepcopy(VALID)
    if references is not None:
        data["study"]["references"] = references
    return config_from_dict(data)


def test_default_references_are_uniform_and_natural_within_the_bounds():
    refs = reference_mixtures(_config(), {"x": 100, "y": 300, "z": 600})
    assert list(refs) == ["uniform", "natural"]
    assert np.allclose(refs["uniform"], 1 / 3)
    # z has 60% of the tokens but an upper bound of 0.5; x has a lower bound of 0.1
    natural = refs["natural"]
    assert natural[2] == pytest.approx(0.5) and natural[0] >= 0.1 - 1e-9
    assert natural.sum() == pytest.approx(1.0) and natural[1] > natural[0]


def test_a_user_reference_is_checked_and_survives_the_config_round_trip():
    config = _config(["uniform", {"name": "mine", "mixture": {"x": 0.2, "y": 0.4, "z": 0.4}}])
    assert config_from_dict(config_to_dict(config)) == config
    refs = reference_mixtures(config, None)
    assert list(refs) == ["uniform", "mine"] and np.allclose(refs["mine"], [0.2, 0.4, 0.4])
    with pytest.raises(ConfigError, match=r"study\.references\[0\]\.mixture.*'why'"):
        _config([{"name": "typo", "mixture": {"x": 0.2, "why": 0.4, "z": 0.4}}])
    with pytest.raises(ConfigError, match="sum"):
        _config([{"name": "half", "mixture": {"x": 0.2, "y": 0.2, "z": 0.1}}])


def test_natural_needs_token_counts():
    with pytest.raises(ConfigError, match="token counts"):
        reference_mixtures(_config(["natural"]), None)


def test_references_are_target_trials_reported_with_their_results():
    config = _config()
    study = Study(config)
    for name, weights in reference_mixtures(config, {"x": 1, "y": 1, "z": 2}).items():
        study.attach(weights, config.ladder.target.name, reference=name)
    assert list(study.references()) == ["uniform", "natural"]
    study.complete(study.references()["uniform"], {"loss": 2.5}, cost=4.0)
    rows = {r["name"]: r for r in reference_results(study)}
    assert rows["uniform"]["value"] == 2.5 and rows["uniform"]["status"] == "completed"
    assert rows["natural"]["value"] is None


def test_the_budget_must_pay_for_the_reference_runs():
    assert reference_count(_config(), proxy=True) == 2  # uniform and natural
    assert reference_count(_config(), proxy=False) == 1  # no token counts: uniform alone
    assert reference_count(_config(["uniform"]), proxy=True) == 1
    assert reference_count(_config([]), proxy=True) == 0
    config = _config()
    check_budget_pays_for_references(replace(config, budget=2.0), 2)
    check_budget_pays_for_references(replace(config, budget=None), 2)  # max_trials only
    with pytest.raises(ConfigError, match=r"0.5 target-rung runs cannot pay for the study's 2 "
                                          r"reference run\(s\)") as err:
        check_budget_pays_for_references(replace(config, budget=0.5), 2)
    assert err.value.where == "study.budget"

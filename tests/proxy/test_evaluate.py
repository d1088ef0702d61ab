"""Scoring a proxy: the objective's forms and its checks against corpora and mixtures."""

from __future__ import annotations

import pytest

from admire.errors import ConfigError, ValidationError
from admire.proxy.evaluate import Objective


def test_objective_forms():
    assert Objective.from_config(None) == Objective()
    mean = Objective.from_config({"mean_over": ["a", "b"]})
    assert mean.targets(["a", "b", "c"]) == ("a", "b")
    assert mean.value({"a": 1.0, "b": 3.0, "c": 100.0}) == 2.0
    held = Objective.from_config({"held_out": "c"})
    assert held.kind == "held_out" and held.value({"a": 1.0, "b": 3.0, "c": 5.0}) == 5.0
    with pytest.raises(ValidationError, match="held-out domain 'c' has weight 0.2"):
        held.check(["a", "b", "c"], {"a": 0.8, "c": 0.2})
    with pytest.raises(ConfigError, match="unknown domains"):
        mean.check(["a"], {"a": 1.0})


def test_objective_config_errors():
    with pytest.raises(ConfigError, match="mean_over"):
        Objective.from_config({"minimise": "code"})
    with pytest.raises(ConfigError) as err:
        Objective.from_config({"mean_over": []})
    assert err.value.where == "objective.mean_over"
    with pytest.raises(ConfigError) as err:
        Objective.from_config({"held_out": 3})
    assert err.value.where == "objective.held_out"

"""Study configs: valid ones load; >= 1,000 generated invalid ones fail with a ConfigError that
names the field, never a traceback from deeper down."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admire.errors import ConfigError
from admire.schema.config import config_from_dict, load_config

VALID = {
    "study": {"name": "s", "mode": "continuous", "budget": 5.0, "max_parallel": 2},
    "objective": {"metric": "loss", "minimize": True},
    "ladder": {"name": "l", "rung": [{"name": "a", "cost_estimate": 1.0},
                                     {"name": "b", "cost_estimate": 4.0}]},
    "domain": [{"name": "x", "lower": 0.1, "upper": 0.8, "max_epochs": 4},
               {"name": "y"}, {"name": "z", "upper": 0.5}],
    "strategy": {"initial_trials": 2, "acquisition": "kg", "caution": 1.0},
}


def test_valid_config_loads(tmp_path):
    config = config_from_dict(VALID)
    assert config.domain_names == ["x", "y", "z"]
    assert config.ladder.target.name == "b" and config.ladder.rungs[0].fidelity == 0.25
    assert config.space().upper == (0.8, 1.0, 0.5)
    import tomli_w

    path = tmp_path / "c.toml"
    path.write_text(tomli_w.dumps(VALID))
    assert load_config(path) == config


def mutate(path: list, value):
    data = copy.deepcopy(VALID)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


DELETE = object()
# (field path, bad value, text the error must contain)
CASES = [
    (["study", "name"], DELETE, "study: missing field 'name'"),
    (["study", "name"], 3, "study.name"),
    (["study", "mode"], "grid", "study.mode"),
    (["study", "budget"], -1.0, "study.budget"),
    (["study", "budget"], float("nan"), "study.budget"),
    (["study", "max_parallel"], 0, "study.max_parallel"),
    (["study", "bogus"], 1, "unknown fields ['bogus']"),
    (["objective", "metric"], DELETE, "objective: missing field 'metric'"),
    (["objective", "minimize"], "yes", "objective.minimize"),
    (["ladder", "rung"], [], "non-empty [[rung]]"),
    (["ladder", "rung", 0, "cost_estimate"], -2.0, "cost_estimate"),
    (["ladder", "rung", 1, "name"], "a", "duplicate rung names"),
    (["domain", 0, "lower"], 0.9, "domain 'x'"),
    (["domain", 0, "upper"], 1.5, "domain 'x'"),
    (["domain", 1, "name"], "x", "duplicate domains"),
    (["domain", 0, "max_epochs"], 0, "domain[0].max_epochs"),
    (["domain", 2, "colour"], "red", "domain[2]: unknown fields"),
    (["strategy", "acquisition"], "ucb", "strategy.acquisition"),
    (["strategy", "caution"], -1, "caution"),
    (["strategy", "kernel"], "matern", "strategy.kernel"),
    (["strategy", "input_scale"], "log", "strategy.input_scale"),
    (["strategy", "kg_targets"], "some", "strategy.kg_targets"),
    (["strategy", "policy"], "greedy", "strategy.policy"),
]


@pytest.mark.parametrize(("path", "value", "expected"), CASES)
def test_each_bad_field_is_named(path, value, expected):
    with pytest.raises(ConfigError) as err:
        config_from_dict(mutate(path, value))
    assert expected in str(err.value)


def test_bounds_that_leave_no_mixture():
    data = copy.deepcopy(VALID)
    for d in data["domain"]:
        d["lower"], d["upper"] = 0.4, 0.9
    with pytest.raises(ConfigError, match="lower bounds sum to 1.2"):
        config_from_dict(data)
    data = copy.deepcopy(VALID)
    for d in data["domain"]:
        d["lower"], d["upper"] = 0.0, 0.2
    with pytest.raises(ConfigError, match="upper bounds sum to 0.6"):
        config_from_dict(data)


junk = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
                 st.text(max_size=5), st.lists(st.integers(), max_size=2),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def all_paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from all_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from all_paths(value, (*prefix, i))


PATHS = list(all_paths(VALID))


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), junk)
def test_generated_bad_configs_raise_config_errors_only(path, value):
    data = mutate(list(path), value)
    try:
        config_from_dict(data)
    except ConfigError as exc:
        assert exc.where  # every error says where
    # Some replacements are valid (e.g. an int budget); those must simply load.

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
    "study": {"name": "s", "mode": "continuous", "budget": 5.0, "max_parallel": 2, "seed": 3},
    "objective": {"metric": "loss", "minimize": True},
    "ladder": {"name": "l", "rung": [{"name": "a", "cost_estimate": 1.0},
                                     {"name": "b", "cost_estimate": 4.0}]},
    "domain": [{"name": "x", "lower": 0.1, "upper": 0.8, "max_epochs": 4},
               {"name": "y"}, {"name": "z", "upper": 0.5}],
    "policy": {"name": "kg", "initial_trials": 2, "caution": 1.0},
}


def test_valid_config_loads(tmp_path):
    config = config_from_dict(VALID)
    assert config.domain_names == ["x", "y", "z"] and config.seed == 3
    assert config.policy.name == "kg" and config.policy.options.caution == 1.0
    assert config.ladder.target.name == "b" and config.ladder.rungs[0].fidelity == 0.25
    assert config.space().upper == (0.8, 1.0, 0.5)
    assert config.confirm_seeds == 2  # admire tune confirms its answer with 2 fresh seeds
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
    (["study", "name"], DELETE, "config: study.name: missing field"),
    (["study", "name"], 3, "study.name"),
    (["study", "mode"], "grid", "study.mode"),
    (["study", "budget"], -1.0, "study.budget: Input should be greater than 0, got -1.0"),
    (["study", "budget"], float("nan"), "study.budget"),
    (["study", "budget"], True, "study.budget"),
    (["study", "max_parallel"], 0, "study.max_parallel"),
    (["study", "seed"], 1.5, "study.seed"),
    (["study", "confirm_seeds"], -1, "study.confirm_seeds: Input should be greater than or "
                                     "equal to 0, got -1"),
    (["study", "confirm_seeds"], 1.5, "study.confirm_seeds"),
    (["study", "bogus"], 1, "study.bogus: unknown field; allowed: ['budget'"),
    (["objective", "metric"], DELETE, "objective.metric: missing field"),
    (["objective", "minimize"], "yes", "objective.minimize"),
    (["ladder", "rung"], [], "ladder.rung: expected a non-empty [[rung]] array"),
    (["ladder", "rung", 0, "cost_estimate"], -2.0, "ladder.rung[0].cost_estimate"),
    (["ladder", "rung", 1, "name"], "a", "duplicate rung names"),
    (["domain", 0, "lower"], 0.9, "domain 'x'"),
    (["domain", 0, "upper"], 1.5, "domain[0].upper"),
    (["domain", 1, "name"], "x", "duplicate domains"),
    (["domain", 0, "max_epochs"], 0, "domain[0].max_epochs"),
    (["domain", 2, "colour"], "red", "domain[2].colour: unknown field"),
    (["policy", "name"], "greedy", "policy.name: unknown policy 'greedy'"),
    (["policy", "caution"], -1, "policy.caution"),
    (["policy", "kernel"], "matern", "policy.kernel"),
    (["policy", "input_scale"], "log", "policy.input_scale"),
    (["policy", "kg_targets"], "some", "policy.kg_targets"),
    (["policy", "acquisition"], "ucb", "policy.acquisition: unknown option 'acquisition'"),
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
        # Every error names the file (here "config") and the table the bad value is in.
        assert exc.where.startswith("config: ") and str(path[0]) in exc.where, (path, str(exc))
    # Some replacements are valid (e.g. an int budget); those must simply load.


def test_the_old_strategy_table_says_what_replaced_it():
    data = copy.deepcopy(VALID)
    data["strategy"] = data.pop("policy")
    with pytest.raises(ConfigError, match=r"\[strategy\] table is now \[policy\]"):
        config_from_dict(data)


def test_a_missing_ladder_file_names_the_field_and_the_file(tmp_path):
    data = copy.deepcopy(VALID)
    data["ladder"] = {"path": "nowhere.toml"}
    with pytest.raises(ConfigError, match=r"config: ladder.path .*nowhere.toml: file not found"):
        config_from_dict(data, base_dir=tmp_path)


def test_config_round_trips_through_its_dict():
    from admire.schema.config import config_to_dict

    config = config_from_dict(VALID)
    assert config_from_dict(config_to_dict(config)) == config

"""[[objectives]] and [[constraints]]: valid tables load and round-trip, the direction comes from
the name when not given, and every bad table fails with an error naming file, field and value."""

from __future__ import annotations

import copy

import pytest
import tomli_w

from admire.errors import ConfigError
from admire.schema.config import config_from_dict, config_to_dict, load_config
from admire.schema.objectives import check_outcome_metrics

BASE = {
    "study": {"name": "s", "budget": 5.0},
    "ladder": {"name": "l", "rung": [{"name": "a", "cost_estimate": 1.0},
                                     {"name": "b", "cost_estimate": 4.0}]},
    "domain": [{"name": "x"}, {"name": "y"}],
    "objectives": [{"metric": "avg_id", "direction": "maximize"}, {"metric": "val_loss"}],
    "constraints": [{"metric": "avg_id", "min": 0.3}, {"metric": "ppl", "max": 9.0}],
}


def with_(**tables):
    data = copy.deepcopy(BASE)
    for key, value in tables.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def test_objectives_load_round_trip_and_infer_direction(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(tomli_w.dumps(BASE))
    config = load_config(path)
    assert config.objectives == (("avg_id", False), ("val_loss", True))  # "loss": minimise
    assert config.objective.metric == "avg_id" and not config.objective.minimize
    spec = config.outcomes()
    assert spec.metrics == ("avg_id", "val_loss", "ppl") and spec.n_objectives == 2
    assert [(b.index, b.lower, b.upper) for b in spec.bounds] == [(0, 0.3, None), (2, None, 9.0)]
    assert config_from_dict(config_to_dict(config)) == config


def test_single_objective_configs_are_unchanged():
    config = config_from_dict(with_(objectives=None, constraints=None,
                                    objective={"metric": "loss", "minimize": True}))
    assert config.objectives == () and config.outcomes() is None and not config.multi_objective
    assert "objectives" not in config_to_dict(config)


@pytest.mark.parametrize(("tables", "expected"), [
    ({"objectives": []}, "study.toml: objectives: expected two or more [[objectives]] tables "
                         "(use [objective] for one), got 0"),
    ({"objectives": [{"metric": "a"}]}, "got 1"),
    ({"objectives": [{"metric": "a", "direction": "up"}, {"metric": "b"}]},
     "study.toml: objectives[0].direction: Input should be 'maximize' or 'minimize', got 'up'"),
    ({"objectives": [{"metric": "a"}, {"metric": "a"}]},
     "study.toml: objectives[1].metric: metric 'a' is listed twice"),
    ({"objectives": [{"metric": "a"}, {"metric": "b", "goal": 1}]},
     "objectives[1].goal: unknown field"),
    ({"constraints": [{"metric": "avg_id"}]},
     "study.toml: constraints[0]: constraint on 'avg_id' needs min or max (or both)"),
    ({"constraints": [{"metric": "avg_id", "min": 2.0, "max": 1.0}]}, "min 2.0 is above max"),
    ({"constraints": [{"metric": "avg_id", "min": "high"}]}, "constraints[0].min"),
    ({"objective": {"metric": "a"}}, "give either one [objective] or several [[objectives]]"),
    ({"objectives": None, "objective": {"metric": "a"}},
     "study.toml: constraints: outcome constraints need [[objectives]]"),
])
def test_bad_tables_name_their_place(tables, expected):
    with pytest.raises(ConfigError) as err:
        config_from_dict(with_(**tables), where="study.toml")
    assert expected in str(err.value)


def test_unknown_metric_is_named():
    spec = config_from_dict(BASE).outcomes()
    check_outcome_metrics(spec, ["avg_id", "val_loss", "ppl"], where="s.toml")
    with pytest.raises(ConfigError, match=r"s.toml: constraints.metric: unknown metric 'ppl'"):
        check_outcome_metrics(spec, ["avg_id", "val_loss"], where="s.toml")
    with pytest.raises(ConfigError, match=r"objectives.metric: unknown metric 'val_loss'"):
        check_outcome_metrics(spec, ["avg_id"], where="s.toml")

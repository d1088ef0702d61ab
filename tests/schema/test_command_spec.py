"""Command-template rungs are checked when the config loads; errors name the rung and field."""

from __future__ import annotations

import pytest

from admire.errors import ConfigError
from admire.schema.command import command_spec
from admire.schema.ladder import ladder_from_dict


def ladder(**rung) -> dict:
    return {"name": "l", "rung": [{"name": "small", "cost_estimate": 1.0, **rung}]}


def test_a_command_rung_loads_with_its_defaults_and_fills_words_without_a_shell():
    rung = ladder_from_dict(ladder(command="train --mix '{mixture}' --out {out_dir}/x",
                                   tokens=10, timeout_s=5), where="f").rungs[0]
    spec = command_spec(rung.name, rung.spec)
    assert spec.metrics_file == "{out_dir}/metrics.json" and spec.timeout_s == 5.0
    argv = spec.argv({"mixture": '{"a": 0.5, "b": 0.5}', "out_dir": "/s t"})
    assert argv == ["train", "--mix", '{"a": 0.5, "b": 0.5}', "--out", "/s t/x"]


@pytest.mark.parametrize(("rung", "field", "says"), [
    ({"command": "train {mixture_jsn}"}, "command", "unknown placeholder {mixture_jsn}"),
    ({"command": "train --tokens {tokens}"}, "command", "the rung defines no tokens"),
    ({"command": "train", "metrics_file": "{outdir}/m.json"}, "metrics_file",
     "unknown placeholder {outdir}"),
    ({"command": "train {seed:03d}"}, "command", "takes no format"),
    ({"command": "train {"}, "command", "not a valid template"),
    ({"command": "train 'unclosed"}, "command", "cannot be split"),
    ({"command": ""}, "command", "non-empty string"),
    ({"command": "train", "timeout_s": -1}, "timeout_s", "seconds > 0"),
    ({"command": "train", "tokens": 1.5}, "tokens", "integer > 0"),
    ({"command": "train", "model": {}}, "model", "drop [model]"),
])
def test_a_bad_command_rung_is_a_config_error_naming_the_rung_and_field(rung, field, says):
    with pytest.raises(ConfigError) as err:
        ladder_from_dict(ladder(**rung), where="study.toml: ladder")
    assert err.value.where == f"study.toml: ladder.rung[0]: rung 'small'.{field}"
    assert says in err.value.problem

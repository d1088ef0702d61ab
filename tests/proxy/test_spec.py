"""Rung specs: the shipped ladder files parse; bad tables fail naming the rung and field."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from admire.errors import ConfigError
from admire.proxy.spec import ProxySpec

REPO = Path(__file__).resolve().parents[2]
TINY = {"model": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                  "intermediate_size": 64, "max_position_embeddings": 64},
        "train": {"tokens": 8 * 32 * 40, "batch_size": 8, "seq_len": 32, "lr": 1e-2,
                  "eval_tokens": 1024}}


@dataclass(frozen=True)
class Rung:
    """A ladder rung as ``from_rung`` sees it (name and its verbatim tables)."""

    name: str
    spec: dict[str, Any] = field(default_factory=dict)


def _rungs(ladder: str) -> list[Rung]:
    data = tomllib.loads((REPO / "fidelities" / f"{ladder}.toml").read_text(encoding="utf-8"))
    return [Rung(r["name"], {k: v for k, v in r.items() if k not in ("name", "cost_estimate")})
            for r in data["rung"]]


@pytest.mark.parametrize("ladder", ["cpu-tiny", "gpu-small"])
def test_ladder_files_parse_into_proxy_specs(ladder):
    rungs = _rungs(ladder)
    specs = [ProxySpec.from_rung(r) for r in rungs]
    assert [s.name for s in specs] == [r.name for r in rungs] and len(specs) == 3
    assert all(not s.train.compile for s in specs)  # compile stays opt-in
    tokens = [s.train.tokens for s in specs]
    assert tokens == sorted(tokens)


def test_compile_is_a_boolean_train_option():
    spec = ProxySpec.from_dict({**TINY, "train": {**TINY["train"], "compile": True}})
    assert spec.train.compile is True
    with pytest.raises(ConfigError, match="true or false") as err:
        ProxySpec.from_dict({**TINY, "train": {**TINY["train"], "compile": 1}})
    assert err.value.where == "rung.train.compile"


def test_spec_errors_name_the_field():
    cases = [
        ({"train": {**TINY["train"], "tokens": 1000}}, "rung.train.tokens", "multiple"),
        ({"train": {**TINY["train"], "lr": "fast"}}, "rung.train.lr", "number"),
        ({"train": {**TINY["train"], "batch": 8}}, "rung.train", "unknown fields"),
        ({"model": {**TINY["model"], "num_attention_heads": 3}}, "rung.model.num_attention_heads",
         "heads"),
        ({"model": {k: v for k, v in TINY["model"].items() if k != "hidden_size"}},
         "rung.model.hidden_size", "missing"),
        ({"model": {**TINY["model"], "num_hidden_layers": 2.5}},
         "rung.model.num_hidden_layers", "integer"),
        ({"train": {**TINY["train"], "seq_len": 128, "tokens": 8 * 128}},
         "rung.train.seq_len", "max_position_embeddings"),
        ({"model": None}, "rung.model", "table"),
    ]
    for change, where, text in cases:
        with pytest.raises(ConfigError, match=text) as err:
            ProxySpec.from_dict({**TINY, **change})
        assert err.value.where == where
    with pytest.raises(ConfigError) as err:
        ProxySpec.from_rung(Rung("r0", {**TINY, "train": {**TINY["train"], "lr": -1.0}}))
    assert err.value.where == "rung 'r0'.train.lr"

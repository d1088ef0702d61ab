"""Proxy training: rung specs from the ladder files, a tiny run that learns, refusals and errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from admire.errors import ConfigError, ValidationError
from admire.proxy import train as train_mod
from admire.proxy.corpora import ByteTokenizer, Corpora, CorpusConfig, build_corpora
from admire.proxy.sampler import RepetitionLimitError
from admire.proxy.train import (
    Objective,
    ProxySpec,
    TrainingDivergedError,
    build_model,
    lr_at,
    train_proxy,
    train_rung,
)
from admire.schema.ladder import load_ladder

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]

TINY = {"model": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                  "intermediate_size": 64, "max_position_embeddings": 64},
        "train": {"tokens": 8 * 32 * 40, "batch_size": 8, "seq_len": 32, "lr": 1e-2,
                  "eval_tokens": 1024}}
MIX = {"math": 0.5, "code": 0.3, "scripture": 0.2}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> Corpora:
    cfg = CorpusConfig(max_bytes=60_000, max_doc_chars=4_000)
    return build_corpora(["math", "code", "scripture"], cfg,
                         cache_dir=tmp_path_factory.mktemp("cache"))


def _spec(**train_changes) -> ProxySpec:
    return ProxySpec.from_dict({"model": TINY["model"], "train": {**TINY["train"],
                                                                   **train_changes}})


@pytest.mark.parametrize("ladder", ["cpu-tiny", "gpu-small"])
def test_ladder_files_parse_into_proxy_specs(ladder):
    lad = load_ladder(REPO / "fidelities" / f"{ladder}.toml")
    assert len(lad.rungs) == 3 and lad.name == ladder
    specs = [ProxySpec.from_rung(r) for r in lad.rungs]
    assert [s.name for s in specs] == lad.names
    costs = [r.cost_estimate for r in lad.rungs]
    assert costs == sorted(costs) and lad.target.fidelity == 1.0


def test_cpu_tiny_rungs_have_the_advertised_sizes():
    lad = load_ladder(REPO / "fidelities" / "cpu-tiny.toml")
    sizes = [sum(p.numel() for p in build_model(ProxySpec.from_rung(r).model, ByteTokenizer(),
                                                 0).parameters()) for r in lad.rungs]
    for n, target in zip(sizes, (0.1e6, 0.5e6, 2e6), strict=True):
        assert 0.75 * target <= n <= 1.25 * target


def test_tiny_proxy_learns_and_reports_metrics(corpora: Corpora):
    result = train_proxy(corpora, MIX, _spec(), seed=0, eval_at_start=True)
    assert result.initial_val_loss is not None
    for d in corpora.names:
        assert result.initial_val_loss[d] > math.log(259) - 0.3  # untrained: near uniform
        assert result.val_loss[d] < result.initial_val_loss[d] - 0.5, d
    assert result.objective == pytest.approx(sum(result.val_loss.values()) / 3)
    assert result.loss_curve[-1][1] < result.loss_curve[0][1] - 0.5
    assert result.domain_tokens == {"math": 5120, "code": 3072, "scripture": 2048}
    assert result.flops == 6 * result.n_params * 10240
    assert result.tokens_per_s > 0 and result.cost >= result.train_seconds > 0
    m = result.metrics()
    assert m["objective"] == result.objective and m["val_loss:code"] == result.val_loss["code"]


def test_same_seed_same_result_other_seed_differs(corpora: Corpora):
    spec = _spec(tokens=8 * 32 * 8)
    a = train_proxy(corpora, MIX, spec, seed=3)
    b = train_proxy(corpora, MIX, spec, seed=3)
    c = train_proxy(corpora, MIX, spec, seed=4)
    assert a.val_loss == b.val_loss
    assert a.val_loss != c.val_loss


def test_train_rung_reads_the_spec_from_a_ladder_rung(corpora: Corpora, tmp_path):
    toml = tmp_path / "l.toml"
    toml.write_text('name = "t"\n[[rung]]\nname = "r0"\ncost_estimate = 1.0\n'
                    "[rung.model]\nhidden_size = 32\nnum_hidden_layers = 1\n"
                    "num_attention_heads = 2\nintermediate_size = 64\n"
                    "max_position_embeddings = 32\n[rung.train]\ntokens = 1024\n"
                    "batch_size = 4\nseq_len = 32\nlr = 1e-3\neval_tokens = 64\n",
                    encoding="utf-8")
    result = train_rung(corpora, MIX, load_ladder(toml).rung("r0"),
                        objective={"mean_over": ["math"]})
    assert result.rung == "r0" and result.steps == 8
    assert result.objective == result.val_loss["math"]


def test_repetition_limit_refused_before_any_model_is_built(corpora: Corpora, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("a model was built for a refused mixture")

    monkeypatch.setattr(train_mod, "build_model", no_model)
    available = corpora.available_tokens()["scripture"]
    with pytest.raises(RepetitionLimitError, match="'scripture'"):
        train_proxy(corpora, {"scripture": 1.0}, _spec(tokens=8 * 32 * (available // 256 + 8)),
                    max_epochs={"scripture": 1.0})
    with pytest.raises(ValidationError, match="held-out domain 'code'"):
        train_proxy(corpora, MIX, _spec(), objective={"held_out": "code"})


def test_held_out_objective_is_that_domains_loss(corpora: Corpora):
    result = train_proxy(corpora, {"math": 0.6, "scripture": 0.4}, _spec(tokens=8 * 32 * 4),
                         objective=Objective.from_config({"held_out": "code"}))
    assert result.objective == result.val_loss["code"]
    assert result.domain_tokens["code"] == 0


def test_nan_loss_raises_instead_of_returning_garbage(corpora: Corpora, monkeypatch):
    calls = {"n": 0}
    real = train_mod.lm_loss

    def poisoned(model, ids, reduction="mean"):
        calls["n"] += 1
        loss = real(model, ids, reduction)
        return loss * float("nan") if model.training and calls["n"] >= 3 else loss

    monkeypatch.setattr(train_mod, "lm_loss", poisoned)
    with pytest.raises(TrainingDivergedError, match="step 3/"):
        train_proxy(corpora, MIX, _spec(tokens=8 * 32 * 10), seed=0)


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


def test_objective_config_errors():
    with pytest.raises(ConfigError, match="mean_over"):
        Objective.from_config({"minimise": "code"})
    with pytest.raises(ConfigError) as err:
        Objective.from_config({"mean_over": []})
    assert err.value.where == "objective.mean_over"


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    spec = _spec(tokens=8 * 32 * 100, warmup_frac=0.1, min_lr_frac=0.1).train
    lrs = [lr_at(s, spec) for s in range(spec.steps)]
    assert lrs[:10] == sorted(lrs[:10]) and lrs[9] == pytest.approx(spec.lr)
    assert lrs[10:] == sorted(lrs[10:], reverse=True)
    assert lrs[-1] == pytest.approx(0.1 * spec.lr, rel=0.01)

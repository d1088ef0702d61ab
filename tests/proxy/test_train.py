"""Proxy training: rung specs from the ladder files, a tiny run that learns, refusals and errors."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass

import pytest
import torch

from admire.errors import ValidationError
from admire.proxy import train as train_mod
from admire.proxy.corpora import Corpora, CorpusConfig, build_corpora
from admire.proxy.flops import flops_per_token
from admire.proxy.sampler import RepetitionLimitError
from admire.proxy.train import (
    Objective,
    ProxySpec,
    TrainingDivergedError,
    lr_at,
    train_proxy,
    train_rung,
)

torch.set_num_threads(1)

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
    assert result.model_flops == flops_per_token(_spec().model, 259, 32) * 10240
    assert result.mfu is None and result.device == "cpu"  # no published peak for a CPU
    assert result.tokens_per_s > 0 and result.wall_seconds >= result.train_seconds > 0
    assert result.cost == result.cpu_seconds > 0  # a CPU trial is charged its CPU seconds
    m = result.metrics()
    assert m["objective"] == result.objective and m["val_loss:code"] == result.val_loss["code"]
    assert m["cpu_s"] == result.cpu_seconds and m["wall_s"] == result.wall_seconds


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_a_trial_sharing_its_core_is_charged_its_cpu_time_not_the_longer_wait(corpora: Corpora):
    """A busy process on the same core halves the trial's share of it: the clock doubles, the
    charge (what the budget counts) must not, or a loaded machine buys fewer trials."""
    core = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        os.sched_setaffinity(hog.pid, {core})
        os.sched_setaffinity(0, {core})
        result = train_proxy(corpora, MIX, _spec(tokens=8 * 32 * 120), seed=0)
    finally:
        os.sched_setaffinity(0, before)
        hog.kill()
        hog.wait()
    assert result.wall_seconds > 1.5 * result.cpu_seconds, (result.wall_seconds,
                                                           result.cpu_seconds)
    assert result.cost == result.cpu_seconds


def test_same_seed_same_result_other_seed_differs(corpora: Corpora):
    spec = _spec(tokens=8 * 32 * 8)
    a = train_proxy(corpora, MIX, spec, seed=3)
    b = train_proxy(corpora, MIX, spec, seed=3)
    c = train_proxy(corpora, MIX, spec, seed=4)
    assert a.val_loss == b.val_loss
    assert a.val_loss != c.val_loss


@dataclass(frozen=True)
class Rung:
    name: str
    spec: dict


def test_train_rung_reads_the_spec_from_a_ladder_rung(corpora: Corpora):
    table = tomllib.loads("[model]\nhidden_size = 32\nnum_hidden_layers = 1\n"
                          "num_attention_heads = 2\nintermediate_size = 64\n"
                          "max_position_embeddings = 32\n[train]\ntokens = 1024\n"
                          "batch_size = 4\nseq_len = 32\nlr = 1e-3\neval_tokens = 64\n")
    result = train_rung(corpora, MIX, Rung("r0", table), objective={"mean_over": ["math"]})
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
    calls["n"] = -2  # losses are read every other step here, yet the first bad step is named
    with pytest.raises(TrainingDivergedError, match="step 5/100"):
        train_proxy(corpora, MIX, _spec(tokens=8 * 32 * 100), seed=0)


def test_on_step_sees_every_step_and_the_curve_samples_them(corpora: Corpora):
    seen: list[tuple[int, float]] = []
    result = train_proxy(corpora, MIX, _spec(tokens=8 * 32 * 12), on_step=lambda *a: seen.append(a))
    assert [s for s, _ in seen] == list(range(12))
    assert dict(seen) == {**dict(seen), **dict(result.loss_curve)}
    assert result.train_loss == pytest.approx(seen[-1][1])


def test_compile_wraps_the_model_for_training(corpora: Corpora, monkeypatch):
    compiled = []

    def fake_compile(model, **kwargs):
        compiled.append(model)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    result = train_proxy(corpora, MIX, _spec(tokens=8 * 32 * 4, compile=True))
    assert len(compiled) == 1 and result.steps == 4
    train_proxy(corpora, MIX, _spec(tokens=8 * 32 * 4))
    assert len(compiled) == 1


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    spec = _spec(tokens=8 * 32 * 100, warmup_frac=0.1, min_lr_frac=0.1).train
    lrs = [lr_at(s, spec) for s in range(spec.steps)]
    assert lrs[:10] == sorted(lrs[:10]) and lrs[9] == pytest.approx(spec.lr)
    assert lrs[10:] == sorted(lrs[10:], reverse=True)
    assert lrs[-1] == pytest.approx(0.1 * spec.lr, rel=0.01)

"""The proxy model: advertised sizes, SDPA attention, device-specific settings."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import torch

from admire.proxy.data.tokenizers import ByteTokenizer
from admire.proxy.model import autocast, build_model, make_optimizer, to_device
from admire.proxy.spec import ModelSpec, ProxySpec, TrainSpec

REPO = Path(__file__).resolve().parents[2]
SMALL = ModelSpec(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=64)


def test_cpu_tiny_rungs_have_the_advertised_sizes():
    data = tomllib.loads((REPO / "fidelities" / "cpu-tiny.toml").read_text(encoding="utf-8"))
    specs = [ProxySpec.from_dict(r).model for r in data["rung"]]
    sizes = [sum(p.numel() for p in build_model(s, ByteTokenizer(), 0).parameters())
             for s in specs]
    for n, target in zip(sizes, (0.1e6, 0.5e6, 2e6), strict=True):
        assert 0.75 * target <= n <= 1.25 * target


def test_attention_is_sdpa_and_the_seed_fixes_the_weights():
    a, b = build_model(SMALL, ByteTokenizer(), 3), build_model(SMALL, ByteTokenizer(), 3)
    assert a.config._attn_implementation == "sdpa"
    assert a.config.pad_token_id == ByteTokenizer.pad_id
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    c = build_model(SMALL, ByteTokenizer(), 4)
    assert not torch.equal(a.lm_head.weight, c.lm_head.weight)


class _NoPad(ByteTokenizer):
    bos_id = None
    pad_id = None  # e.g. a GPT-2 style tokenizer: no padding id, so no frozen embedding row


def test_a_tokenizer_without_pad_or_bos_builds():
    model = build_model(SMALL, _NoPad(), 0)
    assert model.model.embed_tokens.padding_idx is None


def test_cpu_runs_in_float32_with_the_default_adamw():
    cpu = torch.device("cpu")
    model = build_model(SMALL, ByteTokenizer(), 0)
    spec = TrainSpec(tokens=64, batch_size=2, seq_len=32, lr=1e-3, eval_tokens=32)
    opt = make_optimizer(model, spec, cpu)
    assert opt.defaults["fused"] is False
    decayed, plain = opt.param_groups
    assert all(p.dim() >= 2 for p in decayed["params"]) and plain["weight_decay"] == 0.0
    with autocast(cpu):
        out = model(input_ids=to_device(torch.zeros(1, 8, dtype=torch.int64).numpy(), cpu))
    assert out.logits.dtype == torch.float32


def test_cuda_gets_bf16_autocast_and_fused_adamw():
    """Checked without a GPU: the settings the CUDA branch chooses."""
    cuda = torch.device("cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available ... disabling autocast"
        ctx = autocast(cuda)
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16
    spec = TrainSpec(tokens=64, batch_size=2, seq_len=32, lr=1e-3, eval_tokens=32)
    opt = make_optimizer(build_model(SMALL, ByteTokenizer(), 0), spec, cuda)
    assert opt.defaults["fused"] is True

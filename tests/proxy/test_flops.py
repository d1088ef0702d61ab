"""FLOPs counting and MFU: the count matches the model, and peaks are looked up by GPU name."""

from __future__ import annotations

import pytest
import torch

from admire.proxy import flops
from admire.proxy.data.tokenizers import ByteTokenizer
from admire.proxy.model import build_model
from admire.proxy.spec import ModelSpec

SPEC = ModelSpec(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=176, max_position_embeddings=128, num_key_value_heads=2)


@pytest.mark.parametrize("tied", [True, False])
def test_matmul_parameters_are_the_models_linear_weights(tied):
    spec = ModelSpec(**{**vars(SPEC), "tie_word_embeddings": tied})
    model = build_model(spec, ByteTokenizer(), 0)
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert flops.matmul_params(spec, ByteTokenizer.vocab_size) == linear


def test_flops_per_token_is_six_n_plus_attention():
    n = flops.matmul_params(SPEC, 259)
    assert flops.flops_per_token(SPEC, 259, 128) == 6 * n + 12 * 2 * 64 * 128


@pytest.mark.parametrize(("name", "peak"), [
    ("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA H100 PCIe", 756e12), ("NVIDIA H100 NVL", 835e12),
    ("NVIDIA H200", 989e12), ("NVIDIA A100-SXM4-80GB", 312e12), ("NVIDIA L4", 121e12),
    ("NVIDIA L40S", 362e12), ("NVIDIA A10", 125e12), ("NVIDIA A10G", None),
    ("NVIDIA GeForce RTX 3090", None)])
def test_gpu_peaks_are_looked_up_by_name(monkeypatch, name, peak):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    assert flops.peak_flops("cuda") == peak


def test_mfu_needs_a_peak_and_cpus_have_none():
    assert flops.peak_flops("cpu") is None
    assert flops.mfu(1e12, 2.0, None) is None
    assert flops.mfu(1e12, 2.0, 1e12) == 0.5
    assert flops.measured_matmul_flops(n=128, seconds=0.05) > 1e6

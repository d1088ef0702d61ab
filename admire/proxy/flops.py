"""Training FLOPs of a proxy and its model FLOPs utilisation (MFU) against the device's peak.

FLOPs per trained token are ``6 * N + 12 * L * d * T`` (PaLM, appendix B; nanoGPT's
``estimate_mfu``): ``N`` parameters in matrix multiplies (the embedding lookup is free, the
output head is not), 2 FLOPs per parameter forward and 4 backward, plus attention's
``QK^T`` and ``AV`` products over a context of ``T`` tokens in ``L`` layers of width ``d``.
MFU is achieved model FLOP/s over the device's dense peak; on a CPU there is no published peak,
so benchmarks compare with a measured matmul rate instead.
"""

from __future__ import annotations

import re
import time

import torch

from admire.proxy.spec import ModelSpec

# Dense (no sparsity) peak FLOP/s from NVIDIA's datasheets, matched against
# torch.cuda.get_device_name() in order (more specific names first).
PEAK_FLOPS: tuple[tuple[str, dict[str, float]], ...] = (
    (r"H100.*NVL", {"bf16": 835e12, "fp32": 60e12}),
    (r"H100.*PCIe", {"bf16": 756e12, "fp32": 51e12}),
    (r"GH200", {"bf16": 989e12, "fp32": 67e12}),
    (r"H100", {"bf16": 989e12, "fp32": 67e12}),  # SXM ("H100 80GB HBM3")
    (r"H200.*NVL", {"bf16": 835e12, "fp32": 60e12}),
    (r"H200", {"bf16": 989e12, "fp32": 67e12}),
    (r"A100", {"bf16": 312e12, "fp32": 19.5e12}),
    (r"L40S", {"bf16": 362e12, "fp32": 91.6e12}),
    (r"\bL4\b", {"bf16": 121e12, "fp32": 30.3e12}),
    (r"\bA10\b", {"bf16": 125e12, "fp32": 31.2e12}),
)


def matmul_params(spec: ModelSpec, vocab_size: int) -> int:
    """Weights used in matrix multiplies: attention and MLP projections plus the output head."""
    d, heads = spec.hidden_size, spec.num_attention_heads
    kv = (spec.num_key_value_heads or heads) * (d // heads)
    per_layer = 2 * d * d + 2 * d * kv + 3 * d * spec.intermediate_size
    return spec.num_hidden_layers * per_layer + vocab_size * d


def flops_per_token(spec: ModelSpec, vocab_size: int, seq_len: int) -> float:
    """Training FLOPs (forward + backward) per token at context ``seq_len``."""
    attention = 12 * spec.num_hidden_layers * spec.hidden_size * seq_len
    return 6.0 * matmul_params(spec, vocab_size) + attention


def peak_flops(device: torch.device | str, precision: str = "bf16") -> float | None:
    """The device's dense peak FLOP/s, or ``None`` when unknown (every CPU, unlisted GPUs)."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(device)
    for pattern, peaks in PEAK_FLOPS:
        if re.search(pattern, name):
            return peaks[precision]
    return None


def mfu(flops: float, seconds: float, peak: float | None) -> float | None:
    """Achieved FLOP/s as a share of ``peak`` (``None`` without a peak)."""
    if peak is None or seconds <= 0:
        return None
    return flops / seconds / peak


def measured_matmul_flops(n: int = 1024, seconds: float = 1.0,
                          dtype: torch.dtype = torch.float32) -> float:
    """Best FLOP/s of ``n x n`` matmuls with torch's current thread count: a CPU's practical
    peak, the reference for a CPU 'MFU' (no vendor number fits a shared machine)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2.0 * n**3 / (time.perf_counter() - t0))
    return best

"""The proxy model and what runs it fast on its device.

A Llama-style decoder built from a ``transformers`` config (offline, never fetched) with SDPA
attention, so PyTorch picks the flash or memory-efficient kernel on a GPU. On CUDA the forward
pass runs under bf16 autocast (weights and optimizer state stay float32) and AdamW uses its fused
kernel; on CPU everything is float32 and AdamW uses its default.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch
import torch.nn.functional as F

from admire.proxy.data.tokenizers import Tokenizer
from admire.proxy.spec import ModelSpec, TrainSpec


def build_model(spec: ModelSpec, tokenizer: Tokenizer, seed: int) -> torch.nn.Module:
    """A freshly initialised Llama-style decoder; ``seed`` fixes the initial weights."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size, num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads or spec.num_attention_heads,
        max_position_embeddings=spec.max_position_embeddings, rms_norm_eps=spec.rms_norm_eps,
        tie_word_embeddings=spec.tie_word_embeddings, bos_token_id=tokenizer.bos_id,
        eos_token_id=tokenizer.eos_id, pad_token_id=tokenizer.pad_id, use_cache=False,
        attention_dropout=0.0, attn_implementation="sdpa")
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config)


def make_optimizer(model: torch.nn.Module, spec: TrainSpec, device: torch.device
                   ) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (norm gains are left alone); fused on CUDA."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": spec.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=spec.lr, betas=(spec.beta1, spec.beta2),
                             fused=device.type == "cuda")


def autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA (no loss scaling needed), nothing on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(batch: Any, device: torch.device) -> torch.Tensor:
    """A numpy batch on ``device``; on CUDA copied from pinned memory, asynchronously."""
    t = torch.from_numpy(batch)
    if device.type == "cuda":
        t = t.pin_memory()
    return t.to(device, non_blocking=True)


def lm_loss(model: torch.nn.Module, ids: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy over every position but the last (computed in float32)."""
    logits = model(input_ids=ids).logits
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten(),
                           reduction=reduction)

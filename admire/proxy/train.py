"""Train one proxy LM on one mixture at one fidelity rung, and measure it (nanoGPT-style).

This is what a live-tuning worker runs per trial: refuse bad mixtures before spending compute,
draw the mixture's exact token counts as seeded windows, train a small Llama-style decoder with
AdamW (linear warm-up, cosine decay), and report per-domain validation loss, the objective,
throughput, wall and CPU time (the observed cost: CPU seconds on a CPU, wall seconds on a GPU),
FLOPs and MFU.

    spec = ProxySpec.from_rung(ladder.rung("tiny"))
    result = train_proxy(corpora, {"code": 0.5, "math": 0.5}, spec, seed=0)
    result.objective, result.cost, result.metrics()

One trial uses one device: ``"cuda"`` is the process's GPU (a Ray actor sees only the one it
was given), with bf16 autocast, fused AdamW, SDPA attention and optional ``torch.compile``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from admire.errors import AdmireError, ValidationError
from admire.proxy.corpora import Corpora
from admire.proxy.evaluate import Objective, evaluate
from admire.proxy.flops import flops_per_token, mfu, peak_flops
from admire.proxy.model import autocast, build_model, lm_loss, make_optimizer, to_device
from admire.proxy.result import ProxyResult
from admire.proxy.sampler import plan_mixture, sample_mixture
from admire.proxy.spec import ModelSpec, ProxySpec, RungLike, TrainSpec

__all__ = ["ModelSpec", "Objective", "ProxyResult", "ProxySpec", "TrainSpec",
           "TrainingDivergedError", "build_model", "evaluate", "lm_loss", "lr_at",
           "make_optimizer", "train_proxy", "train_rung"]


class TrainingDivergedError(AdmireError):
    """The training loss became NaN or infinite: the run has no valid result."""


def lr_at(step: int, spec: TrainSpec) -> float:
    """Linear warm-up to ``lr`` over ``warmup_frac`` of the steps, then cosine to ``min_lr``."""
    total = spec.steps
    warmup = round(spec.warmup_frac * total)
    if step < warmup:
        return spec.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    min_lr = spec.min_lr_frac * spec.lr
    return min_lr + 0.5 * (spec.lr - min_lr) * (1.0 + math.cos(math.pi * min(1.0, progress)))


class LossLog:
    """Step losses kept on the device and read in groups: a read waits for the GPU, and waiting
    after every step would stall it. Reads every ``every`` steps (every step when ``on_step``
    watches), raises :class:`TrainingDivergedError` naming the first non-finite step, and keeps
    the loss curve and the mean of the last tenth of the steps."""

    def __init__(self, spec: TrainSpec, device: torch.device,
                 on_step: Callable[[int, float], None] | None = None) -> None:
        self.spec, self.on_step = spec, on_step
        self.sums = torch.zeros(spec.steps, device=device)  # micro-batch losses of each step
        self.every = 1 if on_step else max(1, spec.steps // 50)
        self.curve: list[tuple[int, float]] = []
        self.tail: list[float] = []
        self.read = 0

    def add(self, step: int, loss: torch.Tensor) -> None:
        self.sums[step] += loss.detach()

    def step_done(self, step: int) -> None:
        last = self.spec.steps - 1
        if (step + 1) % self.every and step < last:
            return
        curve_every = max(1, self.spec.steps // 50)
        for i, total in enumerate(self.sums[self.read:step + 1].tolist(), start=self.read):
            value = total / self.spec.grad_accum
            if not math.isfinite(value):
                raise TrainingDivergedError(
                    f"training loss became {value} at step {i + 1}/{self.spec.steps} "
                    f"(lr {lr_at(i, self.spec):.3g}); lower train.lr or raise warmup_frac")
            if i % curve_every == 0 or i == last:
                self.curve.append((i, value))
            if i >= self.spec.steps - max(1, self.spec.steps // 10):
                self.tail.append(value)
            if self.on_step is not None:
                self.on_step(i, value)
        self.read = step + 1


def train_proxy(corpora: Corpora, weights: Mapping[str, float], spec: ProxySpec, *,
                seed: int = 0, objective: Objective | Mapping[str, Any] | None = None,
                max_epochs: Mapping[str, float | None] | None = None,
                device: str | torch.device | None = None, eval_at_start: bool = False,
                on_step: Callable[[int, float], None] | None = None) -> ProxyResult:
    """Train one proxy on one mixture and evaluate it on every domain's validation split.

    Everything that can be refused (weights, repetition limits, objective, validation sizes) is
    checked before the model is built. Seeds model init and data order. The caller sets torch's
    thread count (one per Ray CPU): this function leaves global settings alone.
    """
    t0, cpu0 = time.perf_counter(), time.process_time()
    tr = spec.train
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    obj = Objective.from_config(objective)
    plan = plan_mixture(weights, corpora.available_tokens(), tr.tokens, tr.seq_len, max_epochs)
    obj.check(corpora.names, weights)
    short = {n: v for n, v in corpora.validation_tokens().items() if v < tr.seq_len}
    if short:
        raise ValidationError(f"validation splits shorter than seq_len={tr.seq_len}: {short}",
                              where="corpora")
    sample = sample_mixture({n: d.train for n, d in corpora.domains.items()}, plan, seed)

    model = build_model(spec.model, corpora.tokenizer, seed).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    initial = (evaluate(model, corpora, tr.seq_len, tr.eval_tokens, tr.batch_size, dev)
               if eval_at_start else None)
    opt = make_optimizer(model, tr, dev)
    forward = torch.compile(model) if tr.compile else model
    batches = sample.batches(tr.batch_size)
    losses = LossLog(tr, dev, on_step)

    model.train()
    t_train = time.perf_counter()
    for step in range(tr.steps):
        lr = lr_at(step, tr)
        for group in opt.param_groups:
            group["lr"] = lr
        for _ in range(tr.grad_accum):
            ids = to_device(next(batches), dev)
            with autocast(dev):
                loss = lm_loss(forward, ids)
            (loss / tr.grad_accum).backward()
            losses.add(step, loss)
        if tr.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tr.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.step_done(step)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    train_seconds = time.perf_counter() - t_train

    val_loss = evaluate(model, corpora, tr.seq_len, tr.eval_tokens, tr.batch_size, dev)
    bad = {d: v for d, v in val_loss.items() if not math.isfinite(v)}
    if bad:
        raise TrainingDivergedError(f"validation loss is not finite: {bad}")
    model_flops = flops_per_token(spec.model, corpora.tokenizer.vocab_size, tr.seq_len) * tr.tokens
    return ProxyResult(
        rung=spec.name, seed=seed, objective=obj.value(val_loss), val_loss=val_loss,
        train_loss=float(np.mean(losses.tail)), tokens=tr.tokens, steps=tr.steps,
        tokens_per_s=tr.tokens / train_seconds, train_seconds=train_seconds,
        wall_seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - cpu0,
        flops=6.0 * n_params * tr.tokens, n_params=n_params,
        domain_tokens=dict(plan.counts), domain_epochs=plan.epochs,
        device=str(dev), initial_val_loss=initial, loss_curve=losses.curve,
        model_flops=model_flops, mfu=mfu(model_flops, train_seconds, peak_flops(dev)))


def train_rung(corpora: Corpora, weights: Mapping[str, float], rung: RungLike, **kwargs: Any
               ) -> ProxyResult:
    """:func:`train_proxy` with the spec read from a ladder rung."""
    return train_proxy(corpora, weights, ProxySpec.from_rung(rung), **kwargs)

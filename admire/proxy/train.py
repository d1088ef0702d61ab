"""Train one proxy LM on one mixture at one fidelity rung, and measure it (nanoGPT-style).

This is what a live-tuning worker runs per trial: parse the rung's ``[rung.model]`` and
``[rung.train]`` tables, refuse bad mixtures before spending compute, train a small Llama-style
decoder with AdamW (linear warm-up, cosine decay), and report per-domain validation loss, the
objective, throughput, wall time (the observed cost) and estimated FLOPs.

    spec = ProxySpec.from_rung(ladder.rung("tiny"))
    result = train_proxy(corpora, {"code": 0.5, "math": 0.5}, spec, seed=0)
    result.objective, result.cost, result.metrics()
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from admire.errors import AdmireError, ConfigError, ValidationError
from admire.proxy.corpora import Corpora, Tokenizer
from admire.proxy.sampler import plan_mixture, sample_mixture
from admire.schema.ladder import Rung


class TrainingDivergedError(AdmireError):
    """The training loss became NaN or infinite: the run has no valid result."""


# --------------------------------------------------------------------------------------------
# Specs parsed from a rung's TOML tables
# --------------------------------------------------------------------------------------------


def _check(value: Any, kind: str, where: str) -> Any:
    """Type-check one TOML value: ``int`` rejects floats and bools; ``float`` accepts ints."""
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"must be true or false, got {value!r}", where=where)
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"must be a number, got {value!r}", where=where)
    if kind == "int":
        if not isinstance(value, int):
            raise ConfigError(f"must be an integer, got {value!r}", where=where)
        return value
    if not math.isfinite(value):
        raise ConfigError(f"must be finite, got {value!r}", where=where)
    return float(value)


def _parse_table(cls: Any, table: Any, where: str) -> Any:
    """Build a spec dataclass from a TOML table, naming unknown, missing and mistyped fields."""
    if not isinstance(table, Mapping):
        raise ConfigError("missing or not a table", where=where)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"unknown fields {unknown}; allowed: {sorted(known)}", where=where)
    kwargs = {}
    for name, f in known.items():
        if name in table:
            kind = str(f.type).split(" |")[0]
            kwargs[name] = _check(table[name], kind, f"{where}.{name}")
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError("missing required field", where=f"{where}.{name}")
    return cls(**kwargs)


def _positive(obj: Any, names: Sequence[str], where: str) -> None:
    for name in names:
        if getattr(obj, name) <= 0:
            raise ConfigError(f"must be > 0, got {getattr(obj, name)!r}", where=f"{where}.{name}")


@dataclass(frozen=True)
class ModelSpec:
    """``[rung.model]``: a Llama-style decoder; the vocabulary comes from the tokenizer."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    num_key_value_heads: int | None = None
    tie_word_embeddings: bool = True
    rms_norm_eps: float = 1e-5

    def validate(self, where: str = "model") -> None:
        _positive(self, ["hidden_size", "num_hidden_layers", "num_attention_heads",
                         "intermediate_size", "max_position_embeddings", "rms_norm_eps"], where)
        heads = self.num_attention_heads
        if self.hidden_size % heads or (self.hidden_size // heads) % 2:
            raise ConfigError(f"hidden_size {self.hidden_size} must split into {heads} heads "
                              "of even size (RoPE)", where=f"{where}.num_attention_heads")
        kv = self.num_key_value_heads
        if kv is not None and (kv <= 0 or heads % kv):
            raise ConfigError(f"must divide num_attention_heads={heads}, got {kv}",
                              where=f"{where}.num_key_value_heads")


@dataclass(frozen=True)
class TrainSpec:
    """``[rung.train]``. ``batch_size`` is sequences per micro-batch; one optimizer step sees
    ``batch_size * grad_accum * seq_len`` tokens, and ``tokens`` must be a multiple of that."""

    tokens: int
    batch_size: int
    seq_len: int
    lr: float
    warmup_frac: float = 0.1
    grad_accum: int = 1
    weight_decay: float = 0.1
    eval_tokens: int = 16_384
    min_lr_frac: float = 0.1
    grad_clip: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.95

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.grad_accum * self.seq_len

    @property
    def steps(self) -> int:
        return self.tokens // self.tokens_per_step

    def validate(self, where: str = "train") -> None:
        _positive(self, ["tokens", "batch_size", "lr", "grad_accum", "eval_tokens"], where)
        if self.seq_len < 2:
            raise ConfigError(f"must be >= 2, got {self.seq_len}", where=f"{where}.seq_len")
        if self.tokens % self.tokens_per_step:
            lo = max(1, self.tokens // self.tokens_per_step) * self.tokens_per_step
            raise ConfigError(f"{self.tokens} is not a multiple of batch_size*grad_accum*seq_len"
                              f" = {self.tokens_per_step}; use e.g. {lo}", where=f"{where}.tokens")
        if self.eval_tokens < self.seq_len:
            raise ConfigError(f"must be >= seq_len={self.seq_len}", where=f"{where}.eval_tokens")
        for name, hi_ok in (("warmup_frac", False), ("min_lr_frac", True), ("beta1", False),
                            ("beta2", False)):
            value = getattr(self, name)
            if not (0 <= value <= 1 if hi_ok else 0 <= value < 1):
                raise ConfigError(f"must be in [0, 1{']' if hi_ok else ')'}, got {value}",
                                  where=f"{where}.{name}")
        for name in ("weight_decay", "grad_clip"):
            if getattr(self, name) < 0:
                raise ConfigError(f"must be >= 0, got {getattr(self, name)}",
                                  where=f"{where}.{name}")


@dataclass(frozen=True)
class ProxySpec:
    """A whole rung as the worker needs it: model shape plus training recipe."""

    model: ModelSpec
    train: TrainSpec
    name: str = "proxy"

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], where: str = "rung", name: str = "proxy"
                  ) -> ProxySpec:
        """Parse ``{"model": {...}, "train": {...}}`` (a ``Rung.spec``); errors name the field."""
        model = _parse_table(ModelSpec, spec.get("model"), f"{where}.model")
        train = _parse_table(TrainSpec, spec.get("train"), f"{where}.train")
        model.validate(f"{where}.model")
        train.validate(f"{where}.train")
        if train.seq_len > model.max_position_embeddings:
            raise ConfigError(f"seq_len {train.seq_len} exceeds model.max_position_embeddings "
                              f"{model.max_position_embeddings}", where=f"{where}.train.seq_len")
        return cls(model, train, name)

    @classmethod
    def from_rung(cls, rung: Rung) -> ProxySpec:
        return cls.from_dict(rung.spec, where=f"rung {rung.name!r}", name=rung.name)


@dataclass(frozen=True)
class Objective:
    """What the optimiser minimises: mean validation loss over ``domains`` (``kind="mean"``;
    ``None`` = every domain), or the loss on one domain kept out of the mixture
    (``kind="held_out"``, which refuses a mixture that gives it weight)."""

    kind: str = "mean"
    domains: tuple[str, ...] | None = None

    @classmethod
    def from_config(cls, cfg: Any, where: str = "objective") -> Objective:
        """``None``, ``{"mean_over": [..]}``, ``{"held_out": "name"}`` or an ``Objective``."""
        if cfg is None or isinstance(cfg, Objective):
            return cfg or cls()
        if isinstance(cfg, Mapping) and set(cfg) == {"mean_over"}:
            doms = cfg["mean_over"]
            if not isinstance(doms, list | tuple) or not doms or not all(
                    isinstance(d, str) for d in doms):
                raise ConfigError("must be a non-empty list of domain names",
                                  where=f"{where}.mean_over")
            return cls("mean", tuple(doms))
        if isinstance(cfg, Mapping) and set(cfg) == {"held_out"}:
            if not isinstance(cfg["held_out"], str):
                raise ConfigError("must be a domain name", where=f"{where}.held_out")
            return cls("held_out", (cfg["held_out"],))
        raise ConfigError('expected {"mean_over": [...]} or {"held_out": "domain"}, '
                          f"got {cfg!r}", where=where)

    def targets(self, names: Sequence[str]) -> tuple[str, ...]:
        return tuple(names) if self.domains is None else self.domains

    def check(self, names: Sequence[str], weights: Mapping[str, float]) -> None:
        """Validate against the corpora and the mixture, before any training."""
        if self.kind not in ("mean", "held_out"):
            raise ConfigError(f"unknown objective kind {self.kind!r}", where="objective.kind")
        unknown = [d for d in self.targets(names) if d not in names]
        if unknown:
            raise ConfigError(f"unknown domains {unknown}; known: {list(names)}",
                              where="objective")
        if self.kind == "held_out" and weights.get(self.targets(names)[0], 0.0) > 0:
            d = self.targets(names)[0]
            raise ValidationError(f"held-out domain {d!r} has weight {weights[d]} in the mixture",
                                  where=f"weights[{d!r}]")

    def value(self, val_loss: Mapping[str, float]) -> float:
        targets = self.targets(list(val_loss))
        return float(np.mean([val_loss[d] for d in targets]))


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyResult:
    """Metrics and cost of one trained proxy. ``cost`` is wall seconds (what the study charges)."""

    rung: str
    seed: int
    objective: float
    val_loss: dict[str, float]
    train_loss: float
    tokens: int
    steps: int
    tokens_per_s: float
    train_seconds: float
    wall_seconds: float
    flops: float
    n_params: int
    domain_tokens: dict[str, int]
    domain_epochs: dict[str, float]
    device: str
    initial_val_loss: dict[str, float] | None = None
    loss_curve: list[tuple[int, float]] = field(default_factory=list)

    @property
    def cost(self) -> float:
        return self.wall_seconds

    def metrics(self) -> dict[str, float]:
        """Flat numeric metrics for a runs-table row (the caller adds the ``m:`` prefix)."""
        out = {"objective": self.objective, "train_loss": self.train_loss,
               "tokens_per_s": self.tokens_per_s, "wall_s": self.wall_seconds,
               "flops": self.flops, "n_params": float(self.n_params)}
        out.update({f"val_loss:{d}": v for d, v in self.val_loss.items()})
        return out


# --------------------------------------------------------------------------------------------
# Model, schedule, evaluation, training
# --------------------------------------------------------------------------------------------


def build_model(spec: ModelSpec, tokenizer: Tokenizer, seed: int) -> torch.nn.Module:
    """A freshly initialised Llama-style decoder (offline: built from a config, never fetched)."""
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
        attention_dropout=0.0)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")


def lr_at(step: int, spec: TrainSpec) -> float:
    """Linear warm-up to ``lr`` over ``warmup_frac`` of the steps, then cosine to ``min_lr``."""
    total = spec.steps
    warmup = round(spec.warmup_frac * total)
    if step < warmup:
        return spec.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    min_lr = spec.min_lr_frac * spec.lr
    return min_lr + 0.5 * (spec.lr - min_lr) * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: torch.nn.Module, spec: TrainSpec, device: torch.device
                   ) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (norm gains are left alone)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": spec.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=spec.lr, betas=(spec.beta1, spec.beta2),
                             fused=device.type == "cuda")


def _autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def lm_loss(model: torch.nn.Module, ids: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy over every position but the last."""
    logits = model(input_ids=ids).logits
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten(),
                           reduction=reduction)


@torch.no_grad()
def evaluate(model: torch.nn.Module, corpora: Corpora, seq_len: int, eval_tokens: int,
             batch_size: int, device: torch.device,
             domains: Sequence[str] | None = None) -> dict[str, float]:
    """Mean token cross-entropy on the first ``eval_tokens`` of each domain's validation split
    (whole sequences only), so every trial is scored on exactly the same tokens."""
    was_training = model.training
    model.eval()
    out: dict[str, float] = {}
    for name in domains or corpora.names:
        val = corpora.domains[name].validation
        n_seq = min(eval_tokens, val.size) // seq_len
        if n_seq == 0:
            raise ValidationError(f"validation split has {val.size} tokens, fewer than "
                                  f"seq_len={seq_len}", where=f"domain {name!r}")
        data = torch.from_numpy(val[: n_seq * seq_len].astype(np.int64)).view(n_seq, seq_len)
        total, count = 0.0, 0
        for lo in range(0, n_seq, batch_size):
            ids = data[lo:lo + batch_size].to(device)
            with _autocast(device):
                total += float(lm_loss(model, ids, reduction="sum"))
            count += ids.numel() - ids.shape[0]
        out[name] = total / count
    model.train(was_training)
    return out


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
    t0 = time.perf_counter()
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
    batches = sample.batches(tr.batch_size)
    curve: list[tuple[int, float]] = []
    every = max(1, tr.steps // 50)
    tail: list[float] = []

    model.train()
    t_train = time.perf_counter()
    for step in range(tr.steps):
        lr = lr_at(step, tr)
        for group in opt.param_groups:
            group["lr"] = lr
        step_loss = torch.zeros((), device=dev)
        for _ in range(tr.grad_accum):
            ids = torch.from_numpy(next(batches)).to(dev, non_blocking=True)
            with _autocast(dev):
                loss = lm_loss(model, ids)
            (loss / tr.grad_accum).backward()
            step_loss += loss.detach()
        if tr.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tr.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        value = step_loss.item() / tr.grad_accum
        if not math.isfinite(value):
            raise TrainingDivergedError(
                f"training loss became {value} at step {step + 1}/{tr.steps} (lr {lr:.3g}); "
                "lower train.lr or raise warmup_frac")
        if step % every == 0 or step == tr.steps - 1:
            curve.append((step, value))
        if step >= tr.steps - max(1, tr.steps // 10):
            tail.append(value)
        if on_step is not None:
            on_step(step, value)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    train_seconds = time.perf_counter() - t_train

    val_loss = evaluate(model, corpora, tr.seq_len, tr.eval_tokens, tr.batch_size, dev)
    bad = {d: v for d, v in val_loss.items() if not math.isfinite(v)}
    if bad:
        raise TrainingDivergedError(f"validation loss is not finite: {bad}")
    return ProxyResult(
        rung=spec.name, seed=seed, objective=obj.value(val_loss), val_loss=val_loss,
        train_loss=float(np.mean(tail)), tokens=tr.tokens, steps=tr.steps,
        tokens_per_s=tr.tokens / train_seconds, train_seconds=train_seconds,
        wall_seconds=time.perf_counter() - t0, flops=6.0 * n_params * tr.tokens,
        n_params=n_params, domain_tokens=dict(plan.counts), domain_epochs=plan.epochs,
        device=str(dev), initial_val_loss=initial, loss_curve=curve)


def train_rung(corpora: Corpora, weights: Mapping[str, float], rung: Rung, **kwargs: Any
               ) -> ProxyResult:
    """:func:`train_proxy` with the spec read from a ladder rung."""
    return train_proxy(corpora, weights, ProxySpec.from_rung(rung), **kwargs)

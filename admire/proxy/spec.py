"""A fidelity rung's ``[rung.model]`` and ``[rung.train]`` tables, parsed and checked up front.

Errors name the rung and field (``rung 'tiny'.train.tokens``), so a typo in a ladder file fails
before any cluster starts. Only the ``model`` and ``train`` tables are read here; resources
(``num_gpus``, ``num_cpus``) belong to the evaluator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any, Protocol

from admire.errors import ConfigError


class RungLike(Protocol):
    """What :meth:`ProxySpec.from_rung` reads from a ladder rung (``admire``'s ``Rung``)."""

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> Mapping[str, Any]: ...


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
    ``batch_size * grad_accum * seq_len`` tokens, and ``tokens`` must be a multiple of that.

    ``compile = true`` runs the model through ``torch.compile``: worth it on a GPU for long rungs,
    off by default because compiling costs tens of seconds per trial (and, on CPU, a C++
    toolchain) that the tiny CPU rungs never earn back.
    """

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
    compile: bool = False

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
    def from_rung(cls, rung: RungLike) -> ProxySpec:
        return cls.from_dict(rung.spec, where=f"rung {rung.name!r}", name=rung.name)

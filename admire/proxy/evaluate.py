"""How a trained proxy is scored: validation loss per domain, and the objective built from it.

Every trial is evaluated on exactly the same tokens (the start of each domain's validation
split), so two mixtures differ in score only through what they trained on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from admire.errors import ConfigError, ValidationError
from admire.proxy.corpora import Corpora
from admire.proxy.model import autocast, lm_loss


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
            with autocast(device):
                total += float(lm_loss(model, ids, reduction="sum"))
            count += ids.numel() - ids.shape[0]
        out[name] = total / count
    model.train(was_training)
    return out

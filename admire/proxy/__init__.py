"""What a live-tuning worker runs: corpora (``data/``: sources, tokenizers, the memory-mapped
token store), the mixture sampler, and proxy training (``spec``, ``model``, ``train``,
``evaluate``, ``flops``). This package never imports the study config.

The public names below are re-exported lazily, so building corpora does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Corpora": "admire.proxy.corpora",
    "CorpusConfig": "admire.proxy.corpora",
    "Tokenizer": "admire.proxy.corpora",
    "build_corpora": "admire.proxy.corpora",
    "RepetitionLimitError": "admire.proxy.sampler",
    "plan_mixture": "admire.proxy.sampler",
    "sample_mixture": "admire.proxy.sampler",
    "weight_upper_bounds": "admire.proxy.sampler",
    "ProxySpec": "admire.proxy.spec",
    "Objective": "admire.proxy.evaluate",
    "ProxyResult": "admire.proxy.result",
    "TrainingDivergedError": "admire.proxy.train",
    "train_proxy": "admire.proxy.train",
    "train_rung": "admire.proxy.train",
}
__all__ = [
    "Corpora", "CorpusConfig", "Objective", "ProxyResult", "ProxySpec", "RepetitionLimitError",
    "Tokenizer", "TrainingDivergedError", "build_corpora", "plan_mixture", "sample_mixture",
    "train_proxy", "train_rung", "weight_upper_bounds",
]

if TYPE_CHECKING:
    from admire.proxy.corpora import Corpora, CorpusConfig, Tokenizer, build_corpora
    from admire.proxy.evaluate import Objective
    from admire.proxy.result import ProxyResult
    from admire.proxy.sampler import (
        RepetitionLimitError,
        plan_mixture,
        sample_mixture,
        weight_upper_bounds,
    )
    from admire.proxy.spec import ProxySpec
    from admire.proxy.train import TrainingDivergedError, train_proxy, train_rung


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'admire.proxy' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)

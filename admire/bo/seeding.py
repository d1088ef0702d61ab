"""Reproducible seeds: every random choice is seeded by (study seed, what, when).

A study rebuilt from storage derives the same seeds from its history, so it makes the same next
proposal as the process that saved it, whatever ran in between.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager


def derive_seed(base: int, *parts: object) -> int:
    """A 32-bit seed from the study's seed and any parts naming the decision."""
    digest = hashlib.sha256(repr((base, *parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


@contextmanager
def torch_seeded(seed: int) -> Iterator[None]:
    """torch's global generator seeded for the block, and restored after it.

    BoTorch and GPyTorch draw from that generator (a failed fit restarts from random points,
    posterior samples prune a baseline), and torch seeds it afresh in every process: without
    this, the same data gives a different fit, or proposal, from one process to the next.
    """
    import torch  # light to import for callers that never fit

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield

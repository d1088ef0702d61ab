"""Reproducible seeds: every random choice is seeded by (study seed, what, when).

A study rebuilt from storage derives the same seeds from its history, so it makes the same next
proposal as the process that saved it, whatever ran in between.
"""

from __future__ import annotations

import hashlib


def derive_seed(base: int, *parts: object) -> int:
    """A 32-bit seed from the study's seed and any parts naming the decision."""
    digest = hashlib.sha256(repr((base, *parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")

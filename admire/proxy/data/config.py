"""How raw text becomes token streams: the ``[proxy.corpus]`` table, validated up front."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from admire.errors import ConfigError

FORMAT_VERSION = 2  # bump when the on-disk layout or the text extraction changes
TOKENIZER_KINDS = ("byte", "bpe")
MAX_VOCAB = 1 << 24  # token ids are stored as uint16 up to 65,536 entries, else uint32


def default_cache_dir() -> Path:
    """``$ADMIRE_CACHE`` if set, else ``~/.cache/admire``."""
    env = os.environ.get("ADMIRE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "admire"


def is_tokenizer_path(value: str) -> bool:
    """A local tokenizer is given as a path (``./tok``, ``/models/x``, ``~/t``, ``x.json``), so
    a typo such as ``"bpf"`` is refused instead of being looked up as a folder."""
    return ("/" in value or os.sep in value or value.startswith((".", "~"))
            or value.endswith(".json"))


@dataclass(frozen=True)
class CorpusConfig:
    """How raw text becomes token streams. Every field enters the cache key.

    ``max_bytes`` caps each domain's UTF-8 text (a few MB keeps CPU studies fast; raise it for
    large user domains); ``max_doc_chars`` cuts long documents at line breaks so the by-document
    split stays balanced; ``max_files`` caps how many files are read from a folder (and from the
    37k licence files). ``tokenizer`` is ``"byte"``, ``"bpe"`` (a byte-level BPE trained on a
    seeded sample of ``bpe_sample_bytes`` from all domains) or the path of a local Hugging Face
    tokenizer folder or ``tokenizer.json``. ``text_field`` is the column (Parquet, saved
    datasets) or key (JSONL) holding the text.
    """

    max_bytes: int = 4_000_000
    val_frac: float = 0.1
    seed: int = 0
    max_doc_chars: int = 16_000
    max_files: int = 5_000
    tokenizer: str = "byte"
    bpe_vocab_size: int = 4096
    bpe_sample_bytes: int = 4_000_000
    text_field: str = "text"

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"{why}, got {getattr(self, name)!r}", where=f"corpus.{name}")

        for name in ("max_bytes", "max_doc_chars", "max_files", "bpe_sample_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(name, "must be a positive integer")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise bad("seed", "must be an integer")
        if isinstance(self.val_frac, bool) or not isinstance(self.val_frac, int | float) or not (
                0.0 < self.val_frac < 1.0):
            raise bad("val_frac", "must be strictly between 0 and 1")
        if not isinstance(self.tokenizer, str) or not (
                self.tokenizer in TOKENIZER_KINDS or is_tokenizer_path(self.tokenizer)):
            raise bad("tokenizer", "must be 'byte' or 'bpe' or the path of a local Hugging Face "
                      "tokenizer (a folder such as './my-tokenizer', or a tokenizer.json)")
        if (isinstance(self.bpe_vocab_size, bool) or not isinstance(self.bpe_vocab_size, int)
                or not 300 <= self.bpe_vocab_size <= MAX_VOCAB):
            raise bad("bpe_vocab_size", f"must be an integer in [300, {MAX_VOCAB}]")
        if not isinstance(self.text_field, str) or not self.text_field:
            raise bad("text_field", "must be a non-empty column name")

    @classmethod
    def from_dict(cls, table: Mapping[str, Any] | None, where: str = "corpus") -> CorpusConfig:
        """Parse a TOML table (e.g. a study's ``[proxy.corpus]``); unknown keys are errors."""
        table = dict(table or {})
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise ConfigError(f"unknown fields {unknown}; allowed: {sorted(allowed)}", where=where)
        try:
            return cls(**table)
        except ConfigError as exc:
            raise ConfigError(exc.problem, where=f"{where}.{exc.where.split('.')[-1]}") from None

    def reading(self) -> dict[str, Any]:
        """The fields that decide which documents a domain yields and how they are split."""
        return {"max_bytes": self.max_bytes, "val_frac": self.val_frac, "seed": self.seed,
                "max_doc_chars": self.max_doc_chars, "max_files": self.max_files,
                "text_field": self.text_field}

"""Text domains for proxy training: built-in offline corpora and user data, tokenized and cached.

A domain is a stream of documents (``admire.proxy.data.sources``), cut to a byte cap, split into
train/validation by document with a fixed seed, tokenized (byte-level by default, a byte-level
BPE trained on a seeded sample of all domains, or a local Hugging Face tokenizer) and stored as
memory-mapped token files under a cache folder keyed by a hash of the sources, the tokenizer and
the config. A second build, and every Ray actor given the :meth:`Corpora.manifest`, opens the
cache without reading any text.

Typical use (once per process, or once in the driver and then :meth:`Corpora.from_manifest`)::

    corpora = build_corpora(["code", "math", "dialogue", "web=/data/web/*.parquet"])
    corpora.available_tokens()   # {"code": 3_600_000, ...} train tokens per domain
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from admire.errors import ValidationError
from admire.proxy.data.build import DomainScan, build_domain, scan_domain, scan_domains
from admire.proxy.data.builtin import BUILTIN_DOMAINS
from admire.proxy.data.config import FORMAT_VERSION, CorpusConfig, default_cache_dir
from admire.proxy.data.mathgen import generate_math_document
from admire.proxy.data.sources import (
    USER_SUFFIXES,
    DomainSource,
    read_domain_texts,
    resolve_domains,
    source_fingerprint,
    split_documents,
)
from admire.proxy.data.store import META, TokenizedDomain, build_lock, load_tokenized
from admire.proxy.data.tokenizers import (
    BPETokenizer,
    ByteTokenizer,
    SubwordTokenizer,
    Tokenizer,
    load_local_tokenizer,
    tokenizer_from_manifest,
    train_bpe,
)

__all__ = [
    "BUILTIN_DOMAINS", "USER_SUFFIXES", "BPETokenizer", "ByteTokenizer", "Corpora",
    "CorpusConfig", "DomainSource", "SubwordTokenizer", "TokenizedDomain", "Tokenizer",
    "build_corpora", "default_cache_dir", "generate_math_document", "load_tokenized",
    "read_domain_texts", "resolve_domains", "split_documents", "tokenizer_from_manifest",
    "train_bpe",
]

log = logging.getLogger("admire.proxy.data")


@dataclass(frozen=True)
class Corpora:
    """Tokenized domains sharing one tokenizer: what a proxy worker samples and evaluates on."""

    tokenizer: Tokenizer
    domains: Mapping[str, TokenizedDomain]

    @property
    def names(self) -> list[str]:
        return list(self.domains)

    def available_tokens(self) -> dict[str, int]:
        """Train tokens per domain (the denominator of an epoch)."""
        return {n: int(d.train.size) for n, d in self.domains.items()}

    def validation_tokens(self) -> dict[str, int]:
        return {n: int(d.validation.size) for n, d in self.domains.items()}

    def manifest(self) -> dict[str, Any]:
        """A small JSON-able description; ship it to Ray actors and load with ``from_manifest``."""
        paths = {}
        for n, d in self.domains.items():
            if d.path is None:
                raise ValidationError("domain was not cached; no manifest possible",
                                      where=f"domain {n!r}")
            paths[n] = str(d.path)
        return {"tokenizer": self.tokenizer.manifest(), "domains": paths}

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> Corpora:
        """Open the cached domains as memory maps: no text is read and no tokens are copied."""
        tokenizer = tokenizer_from_manifest(manifest["tokenizer"])
        domains = {n: load_tokenized(p) for n, p in manifest["domains"].items()}
        for n, d in domains.items():
            if d.name != n:
                raise ValidationError(f"cache holds domain {d.name!r}", where=f"manifest.{n}")
        return cls(tokenizer, domains)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _bpe(sources: Sequence[DomainSource], prints: Mapping[str, Any], config: CorpusConfig,
         cache: Path, scans: dict[str, DomainScan]) -> SubwordTokenizer:
    """Train (or load the cached) BPE on an even, seeded sample of every domain's training text.

    Training needs pass 1 of every domain; those scans are kept so pass 1 is not repeated.
    """
    key = _digest({"v": FORMAT_VERSION, "vocab": config.bpe_vocab_size,
                   "sample": config.bpe_sample_bytes, "reading": config.reading(),
                   "domains": [[s.name, prints[s.name]] for s in sources]})
    path = cache / "tokenizers" / f"bpe-{config.bpe_vocab_size}-{key[:20]}.json"
    if not path.exists():
        with build_lock(path):
            if not path.exists():
                per_domain = max(1, config.bpe_sample_bytes // len(sources))
                scans.update(scan_domains(sources, config, sample_bytes=per_domain))
                sample = [doc for scan in scans.values() for doc in scan.sample]
                log.info("training a BPE of %d tokens on %.1f MB", config.bpe_vocab_size,
                         sum(len(d.encode()) for d in sample) / 1e6)
                train_bpe(sample, config.bpe_vocab_size).save(path)
                for scan in scans.values():
                    scan.sample.clear()
    return SubwordTokenizer.load_bpe(path)


def _tokenizer(sources: Sequence[DomainSource], prints: Mapping[str, Any], config: CorpusConfig,
               cache: Path, scans: dict[str, DomainScan]) -> Tokenizer:
    if config.tokenizer == "byte":
        return ByteTokenizer()
    if config.tokenizer == "bpe":
        return _bpe(sources, prints, config, cache, scans)
    return load_local_tokenizer(config.tokenizer)


def build_corpora(domains: Mapping[str, str | Path] | Sequence[str | Path],
                  config: CorpusConfig | None = None,
                  cache_dir: str | Path | None = None) -> Corpora:
    """Read, cap, split, tokenize and cache every domain; cached domains open in milliseconds.

    The cache key of a domain hashes its sources (file paths, sizes, mtimes and the bytes at
    both ends of each file; a built-in's package version), the tokenizer and the config, so an
    edited file never hits a stale cache, and a cache hit reads no text.
    """
    config = config or CorpusConfig()
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    sources = resolve_domains(domains)
    prints = {s.name: source_fingerprint(s, config) for s in sources}
    scans: dict[str, DomainScan] = {}
    tokenizer = _tokenizer(sources, prints, config, cache, scans)
    out: dict[str, TokenizedDomain] = {}
    for s in sources:
        key = _digest({"v": FORMAT_VERSION, "name": s.name, "source": prints[s.name],
                       "tokenizer": tokenizer.fingerprint, "reading": config.reading()})
        target = cache / "domains" / f"{s.name}-{key[:20]}"
        if not (target / META).exists():
            with build_lock(target):
                if not (target / META).exists():
                    scan = scans.pop(s.name, None) or scan_domain(s, config)
                    build_domain(scan, tokenizer, config, target, key)
        out[s.name] = load_tokenized(target)
    return Corpora(tokenizer, out)

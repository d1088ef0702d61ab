"""Build one domain's token store from its text in two streaming passes, in bounded memory.

Pass 1 (:func:`scan_domain`) counts the documents, because the seeded split is a permutation of
them, and optionally keeps a seeded sample of training documents to train a BPE on. Pass 2
(:func:`build_domain`) encodes batches of about 4 MiB of text with the tokenizer's batch encoder
and appends each document to the train or validation file. Memory holds one batch, the split
mask (one byte per document), the BPE sample and at most ``KEEP_BYTES`` of small domains' kept
documents, whatever the corpus size. Progress is logged to
``admire.proxy.data`` every few seconds.
"""

from __future__ import annotations

import heapq
import logging
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from admire.errors import ValidationError
from admire.proxy.data.config import FORMAT_VERSION, CorpusConfig
from admire.proxy.data.sources import DomainSource, check_doc_count, iter_documents, split_mask
from admire.proxy.data.store import SplitWriter, TokenizedDomain, load_tokenized, staged
from admire.proxy.data.tokenizers import Tokenizer

log = logging.getLogger("admire.proxy.data")
BATCH_BYTES = 4 << 20  # text per encode call: large enough for every core, small in RAM
BATCH_DOCS = 8192
KEEP_BYTES = 64 << 20  # documents pass 1 may keep for pass 2 (small domains are read once)
PROGRESS_SECONDS = 10.0


class Progress:
    """Logs bytes done, rate and (when the total is known) the share, every few seconds."""

    def __init__(self, label: str, total_bytes: int | None = None) -> None:
        self.label, self.total = label, total_bytes
        self.start = self.last = time.perf_counter()
        self.bytes = 0

    def add(self, nbytes: int, extra: str = "") -> None:
        self.bytes += nbytes
        now = time.perf_counter()
        if now - self.last >= PROGRESS_SECONDS:
            self.last = now
            share = f" ({100 * self.bytes / self.total:.0f}%)" if self.total else ""
            log.info("%s: %.1f MB%s, %.1f MB/s%s", self.label, self.bytes / 1e6, share,
                     self.bytes / 1e6 / (now - self.start), extra)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


class _Reservoir:
    """A seeded uniform sample of documents within a byte budget, in one pass: each document
    draws a random key and the smallest keys are kept (bottom-k sampling)."""

    def __init__(self, budget: int, seed: str) -> None:
        self.budget = budget
        self.rng = random.Random(seed)
        self.heap: list[tuple[float, int, str, int]] = []  # (-key, index, doc, bytes)
        self.total = 0

    def offer(self, index: int, doc: str, nbytes: int) -> None:
        key = self.rng.random()
        if self.budget <= 0 or (self.total >= self.budget and -key < self.heap[0][0]):
            return
        heapq.heappush(self.heap, (-key, index, doc, nbytes))
        self.total += nbytes
        while self.total - self.heap[0][3] >= self.budget:
            self.total -= heapq.heappop(self.heap)[3]

    def take(self, is_validation: np.ndarray, budget: int) -> list[str]:
        """Training documents in key order until ``budget`` bytes."""
        out, used = [], 0
        for _, index, doc, nbytes in sorted(self.heap, reverse=True):
            if used >= budget:
                break
            if not is_validation[index]:
                out.append(doc)
                used += nbytes
        return out


@dataclass
class DomainScan:
    """Pass 1's result: the document count (the split needs it), the BPE sample, and the
    documents themselves when the domain is small (``None`` otherwise)."""

    source: DomainSource
    n_docs: int
    text_bytes: int
    seconds: float
    sample: list[str] = field(default_factory=list, repr=False)
    docs: list[tuple[str, int]] | None = field(default=None, repr=False)

    def documents(self, config: CorpusConfig) -> Iterable[tuple[str, int]]:
        """Pass 2's input: the kept documents, or the same stream read again."""
        return self.docs if self.docs is not None else iter_documents(self.source, config)


def scan_domain(source: DomainSource, config: CorpusConfig, sample_bytes: int = 0,
                keep_bytes: int | None = None) -> DomainScan:
    """Count a domain's documents; with ``sample_bytes`` also keep a seeded sample of about
    that much training text (validation documents are never in it). A domain of at most
    ``keep_bytes`` (default ``KEEP_BYTES``) keeps its documents for pass 2."""
    limit = KEEP_BYTES if keep_bytes is None else keep_bytes
    reservoir = _Reservoir(int(sample_bytes / (1 - config.val_frac)) if sample_bytes else 0,
                           seed=f"{config.seed}:{source.name}")
    progress = Progress(f"counting {source.name}")
    kept: list[tuple[str, int]] | None = [] if limit > 0 else None
    n = 0
    for doc, nbytes in iter_documents(source, config):
        reservoir.offer(n, doc, nbytes)
        n += 1
        progress.add(nbytes)
        if kept is not None:
            kept.append((doc, nbytes))
            if progress.bytes > limit:
                kept = None
    check_doc_count(n, source)
    sample = (reservoir.take(split_mask(n, source.name, config), sample_bytes)
              if sample_bytes else [])
    log.info("counted %s: %d documents, %.1f MB in %.1f s", source.name, n,
             progress.bytes / 1e6, progress.seconds)
    return DomainScan(source, n, progress.bytes, progress.seconds, sample, kept)


def scan_domains(sources: Iterable[DomainSource], config: CorpusConfig, sample_bytes: int = 0
                 ) -> dict[str, DomainScan]:
    """Pass 1 over several domains (a BPE needs all their samples before any tokenizing);
    together they keep at most ``KEEP_BYTES`` of documents."""
    out: dict[str, DomainScan] = {}
    budget = KEEP_BYTES
    for source in sources:
        scan = scan_domain(source, config, sample_bytes, keep_bytes=budget)
        if scan.docs is not None:
            budget -= scan.text_bytes
        out[source.name] = scan
    return out


def batches(docs: Iterable[tuple[str, int]]) -> Iterator[tuple[list[str], int]]:
    """Group ``(document, bytes)`` into lists of about ``BATCH_BYTES``."""
    batch: list[str] = []
    size = 0
    for doc, nbytes in docs:
        batch.append(doc)
        size += nbytes
        if size >= BATCH_BYTES or len(batch) >= BATCH_DOCS:
            yield batch, size
            batch, size = [], 0
    if batch:
        yield batch, size


def build_domain(scan: DomainScan, tokenizer: Tokenizer, config: CorpusConfig, target: Path,
                 key: str) -> TokenizedDomain:
    """Tokenize a scanned domain into ``target`` (written atomically) and open it."""
    source = scan.source
    is_val = split_mask(scan.n_docs, source.name, config)
    meta: dict[str, Any] = {"format": FORMAT_VERSION, "name": source.name,
                            "source": source.source, "key": key,
                            "tokenizer": tokenizer.fingerprint, "dtype": tokenizer.dtype.name,
                            "config": asdict(config)}
    progress = Progress(f"tokenizing {source.name}", scan.text_bytes)
    changed = ValidationError(f"the text changed while it was read ({scan.n_docs} documents when "
                              "counted, then more or fewer); build again", where=source.where)
    with staged(target, meta) as tmp:
        train = SplitWriter(tmp, "train", tokenizer.dtype)
        val = SplitWriter(tmp, "validation", tokenizer.dtype)
        i = 0
        for docs, nbytes in batches(scan.documents(config)):
            ids, lengths = tokenizer.encode_docs(docs)
            m = is_val[i:i + len(docs)]
            if len(m) < len(docs):
                raise changed
            i += len(docs)
            if not m.any():
                train.append(ids, lengths)
            else:
                per_token = np.repeat(m, lengths)
                train.append(ids[~per_token], lengths[~m])
                val.append(ids[per_token], lengths[m])
            progress.add(nbytes, f", {(train.tokens + val.tokens) / progress.seconds:,.0f} tok/s")
        train.close()
        val.close()
        if i != scan.n_docs or progress.bytes != scan.text_bytes:
            raise changed
        meta["splits"] = {"train": {"tokens": train.tokens, "docs": train.docs},
                          "validation": {"tokens": val.tokens, "docs": val.docs}}
        scan.docs = None
        meta["build"] = {"text_bytes": scan.text_bytes, "count_seconds": round(scan.seconds, 3),
                         "tokenize_seconds": round(progress.seconds, 3)}
    log.info("tokenized %s: %.1f MB -> %d tokens in %.1f s", source.name, scan.text_bytes / 1e6,
             train.tokens + val.tokens, progress.seconds)
    return load_tokenized(target)

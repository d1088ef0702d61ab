"""The two-pass build: counting, the seeded BPE sample, bounded batches, streamed tokenizing."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from admire.errors import ValidationError
from admire.proxy.data import build
from admire.proxy.data.build import batches, build_domain, scan_domain
from admire.proxy.data.config import CorpusConfig
from admire.proxy.data.sources import resolve_domains, split_mask
from admire.proxy.data.tokenizers import ByteTokenizer


def _source(tmp_path, shards, n=60, seed=0):
    root = shards.parquet(tmp_path / f"d{seed}", shards.docs(n, seed=seed), n_shards=3)
    return resolve_domains({"d": root})[0]


def test_batches_hold_about_batch_bytes(monkeypatch):
    monkeypatch.setattr(build, "BATCH_BYTES", 1_000)
    docs = [("x" * 300, 300)] * 20
    got = list(batches(docs))
    assert [len(b) for b, _ in got] == [4, 4, 4, 4, 4]
    assert all(size == 1_200 for _, size in got)


def test_the_bpe_sample_is_seeded_bounded_spread_and_never_validation(tmp_path, shards):
    source = _source(tmp_path, shards, n=400)
    cfg = CorpusConfig(val_frac=0.2)
    scan = scan_domain(source, cfg, sample_bytes=20_000)
    again = scan_domain(source, cfg, sample_bytes=20_000)
    assert scan.sample == again.sample
    assert scan.n_docs == 400
    size = sum(len(d.encode()) for d in scan.sample)
    assert 20_000 <= size < 20_000 + 1_000  # one document of overshoot at most
    docs = [d for d, _ in build.iter_documents(source, cfg)]
    index = {d: i for i, d in enumerate(docs)}
    picked = sorted(index[d] for d in scan.sample)
    is_val = split_mask(400, "d", cfg)
    assert not any(is_val[i] for i in picked)
    assert picked[-1] > 300 and picked[0] < 100  # spread over the domain, not its first files
    other = scan_domain(source, CorpusConfig(val_frac=0.2, seed=1), sample_bytes=20_000)
    assert other.sample != scan.sample


def test_streaming_a_large_domain_gives_the_tokens_of_a_small_one(tmp_path, shards,
                                                                  monkeypatch):
    source = _source(tmp_path, shards)
    cfg = CorpusConfig()
    tok = ByteTokenizer()
    kept = build_domain(scan_domain(source, cfg), tok, cfg, tmp_path / "kept", "k")
    monkeypatch.setattr(build, "KEEP_BYTES", 0)  # as if the domain were too large to keep
    monkeypatch.setattr(build, "BATCH_BYTES", 2_000)
    scan = scan_domain(source, cfg)
    assert scan.docs is None
    streamed = build_domain(scan, tok, cfg, tmp_path / "streamed", "k")
    assert np.array_equal(kept.train, streamed.train)
    assert np.array_equal(kept.validation, streamed.validation)
    assert (streamed.n_train_docs, streamed.n_val_docs) == (54, 6)


def test_text_that_changes_between_the_passes_is_refused(tmp_path, shards, monkeypatch):
    source = _source(tmp_path, shards)
    cfg = CorpusConfig()
    monkeypatch.setattr(build, "KEEP_BYTES", 0)
    scan = scan_domain(source, cfg)
    shards.parquet(tmp_path / "d0", shards.docs(70), n_shards=3)
    with pytest.raises(ValidationError, match="changed while it was read") as err:
        build_domain(scan, ByteTokenizer(), cfg, tmp_path / "out", "k")
    assert "'d'" in err.value.where
    assert not (tmp_path / "out").exists()


def test_progress_is_logged(tmp_path, shards, monkeypatch, caplog):
    monkeypatch.setattr(build, "PROGRESS_SECONDS", 0.0)
    monkeypatch.setattr(build, "BATCH_BYTES", 2_000)
    source = _source(tmp_path, shards)
    cfg = CorpusConfig()
    with caplog.at_level(logging.INFO, logger="admire.proxy.data"):
        build_domain(scan_domain(source, cfg), ByteTokenizer(), cfg, tmp_path / "out", "k")
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("counting d: ") for m in messages)
    assert any(m.startswith("tokenizing d: ") and "%" in m and "tok/s" in m for m in messages)
    assert any(m.startswith("tokenized d: ") for m in messages)


def test_scanning_many_domains_keeps_a_bounded_total(tmp_path, shards, monkeypatch):
    sources = [_source(tmp_path, shards, n=60, seed=i) for i in range(3)]
    sources = [type(s)(f"d{i}", s.source) for i, s in enumerate(sources)]
    one = scan_domain(sources[0], CorpusConfig()).text_bytes
    monkeypatch.setattr(build, "KEEP_BYTES", int(1.5 * one))
    scans = build.scan_domains(sources, CorpusConfig(), sample_bytes=1_000)
    assert [s.docs is not None for s in scans.values()] == [True, False, False]
    assert all(s.sample for s in scans.values())

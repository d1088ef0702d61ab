"""The token store: flat token files with a document index, memory-mapped (not copied) on load,
written atomically, and refused when damaged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from admire.errors import ValidationError
from admire.proxy.corpora import CorpusConfig, build_corpora
from admire.proxy.data.store import META, SplitWriter, is_mapped, load_tokenized, staged

REPO = Path(__file__).resolve().parents[3]


def test_split_writer_round_trips_tokens_and_document_offsets(tmp_path):
    w = SplitWriter(tmp_path, "train", np.dtype(np.uint32))
    w.append(np.array([1, 2, 9, 70_000, 9], dtype=np.int64), np.array([3, 2]))
    w.append(np.array([5, 9], dtype=np.int64), np.array([2]))
    w.close()
    assert (w.tokens, w.docs) == (7, 3)
    tokens = np.fromfile(tmp_path / "train.bin", dtype=np.uint32)
    assert tokens.tolist() == [1, 2, 9, 70_000, 9, 5, 9]
    assert np.fromfile(tmp_path / "train.idx", dtype=np.int64).tolist() == [0, 3, 5, 7]


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A 50 MB domain (100 MB of uint16 byte tokens) and a small one, built once."""
    root = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(0)
    words = np.array(["alpha", "beta", "gamma", "delta", "stone", "river", "cloud", "ember"])
    texts = [" ".join(rng.choice(words, 1_700)) for _ in range(5_000)]  # ~10 KB each
    for name, rows in (("big", texts), ("small", texts[:20])):
        (root / name).mkdir()
        pq.write_table(pa.table({"text": rows}), root / name / "a.parquet")
    cfg = CorpusConfig(max_bytes=10**9, max_doc_chars=20_000)
    return build_corpora({"big": root / "big", "small": root / "small"}, cfg,
                         cache_dir=root / "cache")


def test_loaded_streams_are_read_only_memory_maps_with_an_index(big):
    dom = big.domains["big"]
    assert is_mapped(dom.train) and is_mapped(dom.validation) and not dom.train.flags.writeable
    assert is_mapped(dom.train[1000:2000]) and not is_mapped(np.array(dom.train[:10]))
    assert dom.train.nbytes > 80e6
    offsets = dom.doc_offsets("train")
    assert is_mapped(offsets) and offsets.size == dom.n_train_docs + 1
    assert offsets[-1] == dom.train.size
    ends = offsets[1:] - 1
    assert np.all(dom.train[ends[:50]] == big.tokenizer.eos_id)


_WORKER = """
import json, sys
from admire.proxy.corpora import Corpora
from admire.proxy.sampler import plan_mixture, sample_mixture

def rss():  # kB -> bytes: all resident pages, and the anonymous (private, unevictable) ones
    f = dict(line.split(":") for line in open("/proc/self/status"))
    return {k: int(f[k].split()[0]) * 1024 for k in ("VmRSS", "RssAnon")}

before = rss()
corpora = Corpora.from_manifest(json.loads(sys.argv[1]))
opened = rss()
plan = plan_mixture({"big": 0.7, "small": 0.3}, corpora.available_tokens(), 8_192, 128)
sample = sample_mixture({n: d.train for n, d in corpora.domains.items()}, plan, seed=0)
shared = all(s is corpora.domains[n].train for n, s in zip(sample.names, sample.streams))
n = sum(b.shape[0] for b in sample.batches(8))
sampled = rss()
print(json.dumps({"open": opened["VmRSS"] - before["VmRSS"],
                  "sample_anon": sampled["RssAnon"] - opened["RssAnon"],
                  "shared": shared, "sequences": n}))
"""


def test_a_worker_opens_and_samples_without_loading_the_domain(big):
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-c", _WORKER, json.dumps(big.manifest())],
                         capture_output=True, text=True, env=env, timeout=120, check=True)
    rss = json.loads(out.stdout)
    assert rss["shared"] and rss["sequences"] == 8_192 // 128
    size = big.domains["big"].train.nbytes  # ~90 MB
    assert rss["open"] < 0.05 * size, rss  # opening maps the files and reads nothing
    # sampling copies only its windows into private memory; the pages it maps are page cache
    # (shared with every process that maps the file, and dropped by the kernel when needed)
    assert rss["sample_anon"] < 0.05 * size, rss


def test_a_failed_build_leaves_nothing_and_a_lost_race_keeps_the_winner(tmp_path):
    target = tmp_path / "domains" / "x-123"
    with pytest.raises(RuntimeError), staged(target, {"format": 0}) as tmp:
        (tmp / "train.bin").write_bytes(b"\0\0")
        raise RuntimeError("tokenizer crashed")
    assert not target.exists() and list(target.parent.iterdir()) == []
    with staged(target, {"winner": "other"}) as tmp:
        target.mkdir()  # another process finishes first
        (target / META).write_text('{"winner": "first"}', encoding="utf-8")
    assert json.loads((target / META).read_text())["winner"] == "first"
    assert [p.name for p in target.parent.iterdir()] == ["x-123"]


def test_a_damaged_cache_is_refused_with_the_file_named(tmp_path):
    c = build_corpora(["math"], CorpusConfig(max_bytes=20_000), cache_dir=tmp_path)
    folder = c.domains["math"].path
    with open(folder / "train.bin", "r+b") as f:
        f.truncate(100)
    with pytest.raises(ValidationError, match="missing or not") as err:
        load_tokenized(folder)
    assert err.value.where == str(folder / "train.bin")
    meta = json.loads((folder / META).read_text())
    (folder / META).write_text(json.dumps({**meta, "format": 1}), encoding="utf-8")
    with pytest.raises(ValidationError, match="cache format 1"):
        load_tokenized(folder)

"""Corpora assembly: built-in and user domains end to end, the cache, manifests, tokenizers."""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pytest

from admire.errors import ConfigError
from admire.proxy import corpora as corpora_mod
from admire.proxy.corpora import (
    BUILTIN_DOMAINS,
    ByteTokenizer,
    Corpora,
    CorpusConfig,
    build_corpora,
)
from admire.proxy.data.store import is_mapped

SMALL = CorpusConfig(max_bytes=40_000, max_doc_chars=4_000)

# sha256[:16] of each built-in domain's uint16 token streams, computed on main before the token
# store moved to memory-mapped files (commit 18643de): (train tokens, hash, validation, hash).
PINNED_SMALL = {
    "code": (38554, "0da19d46ffba25ed", 2826, "0ccb7e690c2871fc"),
    "dialogue": (36145, "516afeeedb11f336", 5041, "229d40db734291c7"),
    "legal": (39048, "c32417c888f9de8d", 3310, "745bc8f232a7d445"),
    "scripture": (35189, "c230b5abec2efcb4", 5366, "523f613c10d3a7bf"),
    "multilingual": (36302, "736708a23a151aa3", 4096, "40b22a775b2689ea"),
    "math": (38684, "0977d379979dad3f", 2343, "e845d15c727f05ed"),
}
PINNED_DEFAULT = {  # CorpusConfig(): what the default live study trains on
    "code": (3589687, "61bbc14a94accc08", 424851, "3778406b0c397082"),
    "dialogue": (3582332, "0299459d6e7e4902", 427850, "6795f98345985bb0"),
    "legal": (3647361, "33cf343eb120583b", 358824, "1de7d755bd683a37"),
    "scripture": (3615965, "dff79a4148b4147c", 387648, "4916c4ecd48e83dc"),
    "multilingual": (859019, "f313ec210f4c2354", 90229, "399f906bdbb41ba9"),
    "math": (3593725, "afc87547db62cc74", 410025, "2b3d8d305f3bde30"),
}
PINNED_PYTHON = "3.11.7"  # the code domain is the interpreter's own stdlib


def _hashes(corpora: Corpora) -> dict[str, tuple[int, str, int, str]]:
    def h(a: np.ndarray) -> str:
        return hashlib.sha256(np.ascontiguousarray(a, dtype=np.uint16).tobytes()).hexdigest()[:16]

    return {n: (int(d.train.size), h(d.train), int(d.validation.size), h(d.validation))
            for n, d in corpora.domains.items()}


def _comparable(pinned: dict) -> dict:
    same_python = sys.version.split()[0] == PINNED_PYTHON
    return {n: v for n, v in pinned.items() if n != "code" or same_python}


@pytest.fixture(scope="module")
def builtin(tmp_path_factory) -> Corpora:
    return build_corpora(list(BUILTIN_DOMAINS), SMALL, cache_dir=tmp_path_factory.mktemp("c"))


def test_every_builtin_domain_loads_nonempty_capped_text(builtin: Corpora):
    assert builtin.names == list(BUILTIN_DOMAINS)
    tok = builtin.tokenizer
    for name, dom in builtin.domains.items():
        assert dom.n_train_docs >= 1 and dom.n_val_docs >= 1, name
        assert dom.train.size > 1_000 and dom.validation.size > 10, name
        # byte tokens: the cap holds up to one document of overshoot (plus one EOS per document)
        n_docs = dom.n_train_docs + dom.n_val_docs
        assert dom.train.size + dom.validation.size <= SMALL.max_bytes + 4 * 4_000 + n_docs
        assert np.count_nonzero(dom.train == tok.eos_id) == dom.n_train_docs
        text = tok.decode(dom.train[:2_000].tolist())
        assert len(text.strip()) > 100, name
    code = tok.decode(builtin.domains["code"].train.tolist())
    assert "def " in code and "import " in code
    assert "Answer:" in tok.decode(builtin.domains["math"].train.tolist())
    multi = tok.decode(builtin.domains["multilingual"].train.tolist())
    assert any(ord(ch) > 0x3000 for ch in multi)  # CJK or another non-Latin script


def test_builtin_token_streams_are_the_ones_main_produced(builtin: Corpora, tmp_path):
    got = _hashes(builtin)
    for name, pinned in _comparable(PINNED_SMALL).items():
        assert got[name] == pinned, name
    default = build_corpora(list(BUILTIN_DOMAINS), CorpusConfig(), cache_dir=tmp_path)
    got = _hashes(default)
    for name, pinned in _comparable(PINNED_DEFAULT).items():
        assert got[name] == pinned, name


def test_second_build_opens_the_cache_without_reading_or_tokenizing(tmp_path, monkeypatch,
                                                                      shards):
    folder = shards.parquet(tmp_path / "notes", shards.docs(30), n_shards=3)
    cache = tmp_path / "cache"
    encoded: list[int] = []
    real = ByteTokenizer.encode_docs

    def counting(self, docs):
        encoded.append(len(docs))
        return real(self, docs)

    monkeypatch.setattr(ByteTokenizer, "encode_docs", counting)
    first = build_corpora({"notes": folder, "math": "math"}, SMALL, cache_dir=cache)
    assert sum(encoded) == sum(d.n_train_docs + d.n_val_docs for d in first.domains.values())

    def fail(*args, **kwargs):
        raise AssertionError("read or tokenized again despite a cache hit")

    encoded.clear()
    monkeypatch.setattr(corpora_mod, "scan_domain", fail)
    monkeypatch.setattr(corpora_mod, "build_domain", fail)
    second = build_corpora({"notes": folder, "math": "math"}, SMALL, cache_dir=cache)
    assert encoded == []
    for name in first.names:
        assert second.domains[name].path == first.domains[name].path
        assert np.array_equal(second.domains[name].train, first.domains[name].train)
        assert np.array_equal(second.domains[name].validation, first.domains[name].validation)
    # an edited shard means a new cache entry
    shards.parquet(tmp_path / "notes", shards.docs(30, seed=1), n_shards=3)
    monkeypatch.undo()
    third = build_corpora({"notes": folder}, SMALL, cache_dir=cache)
    assert third.domains["notes"].path != first.domains["notes"].path
    # a worker opens everything from the manifest alone, as memory maps
    again = Corpora.from_manifest(first.manifest())
    assert is_mapped(again.domains["math"].train)
    assert np.array_equal(again.domains["math"].train, first.domains["math"].train)


def _all_docs(corpora: Corpora, name: str) -> list[str]:
    dom, tok = corpora.domains[name], corpora.tokenizer
    out = []
    for split in ("train", "validation"):
        ids = getattr(dom, split)
        ends = np.flatnonzero(ids == tok.eos_id)
        starts = np.concatenate([[0], ends[:-1] + 1])
        out += [tok.decode(ids[a:b].tolist()) for a, b in zip(starts, ends, strict=True)]
    return out


def test_parquet_and_jsonl_shards_and_a_saved_dataset_are_domains(tmp_path, shards):
    texts = {n: shards.docs(40, seed=i) for i, n in enumerate(("pq", "js", "hf"))}
    sources = {
        "pq": shards.parquet(tmp_path / "pq", texts["pq"], n_shards=4),
        "js": str(shards.jsonl(tmp_path / "js", texts["js"], n_shards=3) / "*.jsonl"),
        "hf": shards.dataset(tmp_path / "hf", texts["hf"]),
    }
    c = build_corpora(sources, CorpusConfig(), cache_dir=tmp_path / "cache")
    for name, expected in texts.items():
        dom = c.domains[name]
        assert dom.n_train_docs + dom.n_val_docs == 40
        assert sorted(_all_docs(c, name)) == sorted(expected), name
        assert dom.n_val_docs == round(0.1 * 40)


def test_bpe_tokenizer_round_trips_and_is_cached(tmp_path):
    cfg = CorpusConfig(max_bytes=30_000, tokenizer="bpe", bpe_vocab_size=400,
                       bpe_sample_bytes=40_000)
    c = build_corpora(["math", "scripture"], cfg, cache_dir=tmp_path)
    tok = c.tokenizer
    assert tok.vocab_size == 400 and (tok.bos_id, tok.eos_id, tok.pad_id) == (0, 1, 2)
    sample = "Solve 3*x + 5 = 20 for x.\nAnd God said, Let there be light: ünïcødé"
    assert tok.decode(tok.encode(sample).tolist()) == sample
    byte_tokens = len(sample.encode())
    assert len(tok.encode("Answer: x = 5. And the earth was")) < byte_tokens
    again = build_corpora(["math", "scripture"], cfg, cache_dir=tmp_path)
    assert again.tokenizer.fingerprint == tok.fingerprint
    assert np.array_equal(again.domains["math"].train, c.domains["math"].train)
    assert Corpora.from_manifest(c.manifest()).tokenizer.fingerprint == tok.fingerprint
    assert c.domains["math"].train.dtype == np.uint16


def test_local_tokenizer_folder_tokenizes_every_domain(tmp_path, shards):
    from transformers import AutoTokenizer

    texts = shards.docs(30)
    folder = shards.tokenizer(tmp_path / "tok", texts)
    data = shards.jsonl(tmp_path / "notes", texts, n_shards=2)
    cfg = CorpusConfig(tokenizer=str(folder))
    c = build_corpora({"notes": data, "math": "math"}, cfg, cache_dir=tmp_path / "cache")
    hf = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    assert c.tokenizer.eos_id == hf.eos_token_id and c.tokenizer.vocab_size == len(hf)
    dom = c.domains["notes"]
    first = dom.doc_offsets("train")
    ids = dom.train[first[0]:first[1]].tolist()
    assert ids[-1] == hf.eos_token_id
    assert hf.decode(ids[:-1]) in texts
    assert ids[:-1] == hf(hf.decode(ids[:-1]), add_special_tokens=False)["input_ids"]
    worker = Corpora.from_manifest(c.manifest())
    assert worker.tokenizer.fingerprint == c.tokenizer.fingerprint


def test_config_fields_are_validated():
    with pytest.raises(ConfigError) as err:
        CorpusConfig(val_frac=1.5)
    assert err.value.where == "corpus.val_frac"
    with pytest.raises(ConfigError, match="'byte' or 'bpe'") as err:
        CorpusConfig(tokenizer="sentencepiece")
    assert err.value.where == "corpus.tokenizer"
    assert CorpusConfig(tokenizer="./my-tokenizer").tokenizer == "./my-tokenizer"
    with pytest.raises(ConfigError) as err:
        CorpusConfig(text_field="")
    assert err.value.where == "corpus.text_field"


def test_corpus_config_from_a_toml_table_names_bad_fields():
    assert CorpusConfig.from_dict({"max_bytes": 1_000, "tokenizer": "bpe"}).max_bytes == 1_000
    with pytest.raises(ConfigError, match="unknown fields") as err:
        CorpusConfig.from_dict({"maxbytes": 1}, where="proxy.corpus")
    assert err.value.where == "proxy.corpus"
    with pytest.raises(ConfigError) as err:
        CorpusConfig.from_dict({"max_bytes": 0}, where="proxy.corpus")
    assert err.value.where == "proxy.corpus.max_bytes"

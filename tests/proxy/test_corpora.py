"""Built-in and user text domains: loading, splitting, tokenizing, caching, and clear errors."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from admire.errors import ConfigError, ValidationError
from admire.proxy import corpora as corpora_mod
from admire.proxy.corpora import (
    BUILTIN_DOMAINS,
    Corpora,
    CorpusConfig,
    DomainSource,
    build_corpora,
    generate_math_document,
    read_domain_texts,
    resolve_domains,
    split_documents,
)

SMALL = CorpusConfig(max_bytes=40_000, max_doc_chars=4_000)


@pytest.fixture(scope="module")
def builtin(tmp_path_factory) -> Corpora:
    return build_corpora(list(BUILTIN_DOMAINS), SMALL, cache_dir=tmp_path_factory.mktemp("c"))


def _folder(root: Path, docs: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


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


def test_math_generator_is_deterministic_and_its_answers_are_right():
    a = [generate_math_document(random.Random(7)) for _ in range(3)]
    b = [generate_math_document(random.Random(7)) for _ in range(3)]
    assert a == b
    assert generate_math_document(random.Random(8)) != a[0]
    text = "\n\n".join(generate_math_document(random.Random(s), 40) for s in range(10))
    eqs = re.findall(r"Solve (-?\d+)\*x ([+-]) (\d+) = (-?\d+) for x\.\n.*\n.*\nAnswer: x = "
                     r"(-?\d+)", text)
    assert len(eqs) > 10
    for a_, sign, b_, c, x in eqs:
        assert int(a_) * int(x) + (int(b_) if sign == "+" else -int(b_)) == int(c)
    divs = re.findall(r"Divide (\d+) by (\d+)\.\n.*\nAnswer: (\d+) remainder (\d+)", text)
    assert divs and all(int(n) == int(d) * int(q) + int(r) and int(r) < int(d)
                        for n, d, q, r in divs)


def test_split_is_by_document_seeded_and_disjoint():
    docs = [f"document number {i}\n" * 3 for i in range(50)]
    cfg = CorpusConfig(val_frac=0.2, seed=1)
    train, val = split_documents(docs, "x", cfg)
    assert len(val) == 10 and len(train) == 40
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(docs)
    assert split_documents(docs, "x", cfg) == (train, val)
    assert split_documents(docs, "x", CorpusConfig(val_frac=0.2, seed=2))[1] != val


def test_second_build_hits_the_cache_without_tokenizing(tmp_path, monkeypatch):
    folder = _folder(tmp_path / "notes", {f"{i}.txt": f"note {i}: " + "words " * 50
                                          for i in range(12)})
    cache = tmp_path / "cache"
    first = build_corpora({"notes": folder, "math": "math"}, SMALL, cache_dir=cache)

    def fail(*args, **kwargs):
        raise AssertionError("tokenized again despite a cache hit")

    monkeypatch.setattr(corpora_mod, "_encode_docs", fail)
    second = build_corpora({"notes": folder, "math": "math"}, SMALL, cache_dir=cache)
    for name in first.names:
        assert second.domains[name].path == first.domains[name].path
        assert np.array_equal(second.domains[name].train, first.domains[name].train)
        assert np.array_equal(second.domains[name].validation, first.domains[name].validation)
    # the key is the text itself: an edited file means a new cache entry
    (folder / "3.txt").write_text("changed text " * 20, encoding="utf-8")
    monkeypatch.undo()
    third = build_corpora({"notes": folder}, SMALL, cache_dir=cache)
    assert third.domains["notes"].path != first.domains["notes"].path
    # a worker can load everything from the manifest alone
    again = Corpora.from_manifest(first.manifest())
    assert np.array_equal(again.domains["math"].train, first.domains["math"].train)


def test_user_folder_with_txt_jsonl_parquet(tmp_path):
    root = _folder(tmp_path / "mydocs", {"a.txt": "alpha text " * 30, "b.txt": "beta " * 40,
                                         "ignored.csv": "x,y\n1,2\n"})
    (root / "sub").mkdir()
    (root / "sub" / "c.jsonl").write_text(
        "\n".join(json.dumps({"text": f"json line {i} " * 5, "id": i}) for i in range(4)),
        encoding="utf-8")
    pq.write_table(pa.table({"text": ["parquet row one " * 6, "parquet row two " * 6]}),
                   root / "d.parquet")
    src = resolve_domains([str(root)])
    assert src == [DomainSource("mydocs", str(root.resolve()))]
    docs = read_domain_texts(src[0], CorpusConfig())
    assert len(docs) == 2 + 4 + 2
    assert any(d.startswith("parquet row one") for d in docs)
    assert not any("x,y" in d for d in docs)
    c = build_corpora({"mine": root}, CorpusConfig(), cache_dir=tmp_path / "cache")
    text = c.tokenizer.decode(np.concatenate([c.domains["mine"].train,
                                              c.domains["mine"].validation]).tolist())
    assert "alpha text" in text and "json line 3" in text and "parquet row two" in text


def test_user_domain_saved_with_datasets(tmp_path):
    from datasets import Dataset

    Dataset.from_dict({"text": [f"saved row {i} " * 8 for i in range(20)]}).save_to_disk(
        str(tmp_path / "saved"))
    c = build_corpora([f"hf={tmp_path / 'saved'}"], CorpusConfig(), cache_dir=tmp_path / "cache")
    assert c.domains["hf"].n_train_docs + c.domains["hf"].n_val_docs == 20


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


def test_unknown_builtin_domain_is_named():
    with pytest.raises(ConfigError, match="unknown built-in domain 'wikipedia'") as err:
        resolve_domains(["code", "wikipedia"])
    assert "math" in str(err.value) and err.value.where == "domains.wikipedia"


def test_missing_path_is_named(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ValidationError, match="does not exist") as err:
        resolve_domains({"x": missing})
    assert str(missing) in str(err.value)


def test_empty_domain_is_refused(tmp_path):
    root = _folder(tmp_path / "empty", {"a.txt": "", "b.txt": "  \n\n"})
    with pytest.raises(ValidationError, match="no text") as err:
        build_corpora([str(root)], CorpusConfig(), cache_dir=tmp_path / "c")
    assert "empty" in err.value.where
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    (nothing / "x.csv").write_text("a,b", encoding="utf-8")
    with pytest.raises(ValidationError, match="no .txt/.jsonl/.parquet files"):
        build_corpora([str(nothing)], CorpusConfig(), cache_dir=tmp_path / "c")


def test_non_utf8_file_is_named(tmp_path):
    root = _folder(tmp_path / "latin", {"ok.txt": "fine text " * 10})
    bad = root / "bad.txt"
    bad.write_bytes("caf\u00e9 cr\u00e8me".encode("latin-1"))
    with pytest.raises(ValidationError, match="not valid UTF-8") as err:
        build_corpora([str(root)], CorpusConfig(), cache_dir=tmp_path / "c")
    assert err.value.where == str(bad)


def test_bad_jsonl_line_is_named(tmp_path):
    root = tmp_path / "j"
    root.mkdir()
    (root / "x.jsonl").write_text('{"text": "ok"}\n{"txt": "wrong key"}\n', encoding="utf-8")
    with pytest.raises(ValidationError, match='"text" field') as err:
        build_corpora([str(root)], CorpusConfig(), cache_dir=tmp_path / "c")
    assert err.value.where == f"{root / 'x.jsonl'}:2"


def test_config_fields_are_validated():
    with pytest.raises(ConfigError) as err:
        CorpusConfig(val_frac=1.5)
    assert err.value.where == "corpus.val_frac"
    with pytest.raises(ConfigError, match="'byte' or 'bpe'"):
        CorpusConfig(tokenizer="sentencepiece")


def test_corpus_config_from_a_toml_table_names_bad_fields():
    assert CorpusConfig.from_dict({"max_bytes": 1_000, "tokenizer": "bpe"}).max_bytes == 1_000
    with pytest.raises(ConfigError, match="unknown fields") as err:
        CorpusConfig.from_dict({"maxbytes": 1}, where="proxy.corpus")
    assert err.value.where == "proxy.corpus"
    with pytest.raises(ConfigError) as err:
        CorpusConfig.from_dict({"max_bytes": 0}, where="proxy.corpus")
    assert err.value.where == "proxy.corpus.max_bytes"

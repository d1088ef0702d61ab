"""Tokenizers: batch encoding with document separators, id widths, local tokenizer files and
folders, and errors that name the path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from admire.errors import ConfigError, ValidationError
from admire.proxy.corpora import build_corpora
from admire.proxy.data.config import CorpusConfig
from admire.proxy.data.tokenizers import (
    ByteTokenizer,
    SubwordTokenizer,
    load_local_tokenizer,
    token_dtype,
    tokenizer_from_manifest,
    train_bpe,
)

DOCS = ["plain ascii", "ünïcødé ✓", "", "line one\nline two\n", "日本語のテキスト"]


def _expected(tok, docs):
    parts = [np.concatenate([tok.encode(d), [tok.eos_id]]) for d in docs]
    return np.concatenate(parts), np.array([len(p) for p in parts])


def test_byte_batch_encoding_is_each_document_then_eos():
    tok = ByteTokenizer()
    ids, lengths = tok.encode_docs(DOCS)
    want_ids, want_lengths = _expected(tok, DOCS)
    assert ids.dtype == np.uint16 and np.array_equal(ids, want_ids)
    assert np.array_equal(lengths, want_lengths)
    assert tok.decode(ids[: lengths[0] - 1].tolist()) == DOCS[0]


def test_bpe_batch_encoding_matches_one_at_a_time():
    tok = train_bpe(["some training text about tokens and text"] * 50 + DOCS, 300)
    ids, lengths = tok.encode_docs(DOCS)
    want_ids, want_lengths = _expected(tok, DOCS)
    assert ids.dtype == np.uint16 and np.array_equal(ids, want_ids)
    assert np.array_equal(lengths, want_lengths)


def test_ids_take_two_bytes_while_the_vocabulary_fits():
    assert token_dtype(259) == np.uint16 and token_dtype(65_536) == np.uint16
    assert token_dtype(65_537) == np.uint32


def _word_level(path, n_words: int, eos: str | None = "<|endoftext|>"):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {f"w{i}": i for i in range(n_words)} | {"[UNK]": n_words}
    if eos:
        vocab[eos] = n_words + 1
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.save(str(path))
    return path


def test_a_tokenizer_json_with_a_large_vocabulary_stores_uint32(tmp_path):
    tok = load_local_tokenizer(_word_level(tmp_path / "tokenizer.json", 70_000))
    assert tok.vocab_size == 70_002 and tok.eos_id == 70_001 and tok.bos_id is None
    ids, lengths = tok.encode_docs(["w69999 w5", "w1"])
    assert ids.dtype == np.uint32 and ids.tolist() == [69_999, 5, 70_001, 1, 70_001]
    assert lengths.tolist() == [3, 2]
    assert tokenizer_from_manifest(tok.manifest()).fingerprint == tok.fingerprint
    data = tmp_path / "d"
    data.mkdir()
    (data / "a.jsonl").write_text("\n".join(json.dumps({"text": f"w{i} w{i + 60_000}"})
                                            for i in range(20)), encoding="utf-8")
    c = build_corpora({"d": data}, CorpusConfig(tokenizer=str(tmp_path / "tokenizer.json")),
                      cache_dir=tmp_path / "cache")
    assert c.domains["d"].train.dtype == np.uint32 and c.domains["d"].train.max() >= 60_000


def test_a_local_folder_is_loaded_offline(tmp_path, shards):
    folder = shards.tokenizer(tmp_path / "tok", shards.docs(20))
    tok = load_local_tokenizer(folder)
    assert isinstance(tok, SubwordTokenizer) and tok.kind == "hf"
    assert tok.manifest() == {"kind": "hf", "path": str(folder)}
    text = "doc 1: alpha beta café"
    assert tok.decode(tok.encode(text).tolist()) == text


def test_bad_tokenizer_paths_are_named(tmp_path):
    missing = tmp_path / "no-such-tokenizer"
    with pytest.raises(ConfigError, match=str(missing)) as err:
        load_local_tokenizer(missing)
    assert err.value.where == "corpus.tokenizer"
    with pytest.raises(ConfigError, match="does not exist"):
        build_corpora(["math"], CorpusConfig(tokenizer=str(missing)), cache_dir=tmp_path / "c")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValidationError, match="cannot load a tokenizer") as err:
        load_local_tokenizer(empty)
    assert err.value.where == str(empty)
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValidationError, match="not a tokenizers JSON file") as err:
        load_local_tokenizer(garbage)
    assert err.value.where == str(garbage)
    no_eos = _word_level(tmp_path / "no-eos.json", 10, eos=None)
    with pytest.raises(ValidationError, match="no end-of-text token") as err:
        load_local_tokenizer(no_eos)
    assert err.value.where == str(no_eos)

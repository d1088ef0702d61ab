"""Domain sources: resolving names, paths and globs; streaming readers; fingerprints; the split;
errors that name the file (and line/column)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from admire.errors import ConfigError, ValidationError
from admire.proxy.corpora import build_corpora
from admire.proxy.data import sources
from admire.proxy.data.config import CorpusConfig
from admire.proxy.data.sources import (
    DomainSource,
    cut,
    iter_documents,
    read_domain_texts,
    resolve_domains,
    source_fingerprint,
    split_documents,
    split_mask,
)


def _folder(root: Path, docs: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def _one(root: Path | str, config: CorpusConfig | None = None) -> list[str]:
    return read_domain_texts(resolve_domains([str(root)])[0], config or CorpusConfig())


def test_user_folder_with_txt_jsonl_parquet(tmp_path):
    root = _folder(tmp_path / "mydocs", {"a.txt": "alpha text " * 30, "b.txt": "beta " * 40,
                                         "ignored.csv": "x,y\n1,2\n"})
    (root / "sub").mkdir()
    (root / "sub" / "c.jsonl").write_text(
        "\n".join(json.dumps({"text": f"json line {i} " * 5, "id": i}) for i in range(4)),
        encoding="utf-8")
    pq.write_table(pa.table({"text": ["parquet row one " * 6, None, "parquet row two " * 6]}),
                   root / "d.parquet")
    src = resolve_domains([str(root)])
    assert src == [DomainSource("mydocs", str(root.resolve()))]
    docs = read_domain_texts(src[0], CorpusConfig())
    assert len(docs) == 2 + 4 + 2  # a null Parquet value is skipped
    assert any(d.startswith("parquet row one") for d in docs)
    assert not any("x,y" in d for d in docs)


def test_parquet_shards_stream_in_file_then_row_order(tmp_path, shards):
    texts = shards.docs(50)
    root = shards.parquet(tmp_path / "web", texts, n_shards=3, row_group_size=4)
    expected = [t for s in range(3) for t in texts[s::3]]
    assert _one(root) == expected
    # a glob names the domain after its folder and reads only what matches
    (tmp_path / "web" / "extra.jsonl").write_text('{"text": "not me"}\n', encoding="utf-8")
    [src] = resolve_domains([str(tmp_path / "web" / "*.parquet")])
    assert src.name == "web" and read_domain_texts(src, CorpusConfig()) == expected
    # the byte cap stops reading early
    capped = _one(root, CorpusConfig(max_bytes=1_000))
    assert 1 <= len(capped) < 10 and sum(len(d.encode()) for d in capped[:-1]) < 1_000


def test_a_text_column_other_than_text(tmp_path, shards):
    root = shards.parquet(tmp_path / "p", shards.docs(5), n_shards=1, column="content")
    assert len(_one(root, CorpusConfig(text_field="content"))) == 5


def test_jsonl_shards_and_saved_datasets(tmp_path, shards):
    from datasets import Dataset, DatasetDict

    texts = shards.docs(20)
    assert _one(shards.jsonl(tmp_path / "j", texts, n_shards=2)) == texts[0::2] + texts[1::2]
    assert _one(shards.dataset(tmp_path / "hf", texts)) == texts
    DatasetDict({"a": Dataset.from_dict({"text": texts[:5]}),
                 "b": Dataset.from_dict({"text": texts[5:]})}).save_to_disk(str(tmp_path / "dd"))
    assert _one(tmp_path / "dd") == texts


def test_long_text_files_stream_in_pieces_cut_at_line_breaks(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_LINE_LIMIT", 64)  # lines longer than this arrive in pieces
    lines = [f"line {i} " + "x" * (i % 150) + "\n" for i in range(400)]
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "a.txt").write_text("".join(lines), encoding="utf-8")
    docs = _one(tmp_path / "big", CorpusConfig(max_doc_chars=1_000))
    assert "".join(docs) == "".join(lines)
    assert all(len(d) <= 1_000 for d in docs) and len(docs) > 10
    assert list(cut("".join(lines), 1_000)) == docs  # the same pieces as cutting in memory


def test_split_is_by_document_seeded_and_disjoint():
    docs = [f"document number {i}\n" * 3 for i in range(50)]
    cfg = CorpusConfig(val_frac=0.2, seed=1)
    train, val = split_documents(docs, "x", cfg)
    assert len(val) == 10 and len(train) == 40
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(docs)
    assert split_documents(docs, "x", cfg) == (train, val)
    assert split_documents(docs, "x", CorpusConfig(val_frac=0.2, seed=2))[1] != val
    assert split_mask(2, "x", cfg).tolist().count(True) == 1  # each side keeps a document


def test_fingerprint_follows_the_files_not_the_reading(tmp_path, shards):
    root = shards.parquet(tmp_path / "p", shards.docs(10), n_shards=2)
    [src] = resolve_domains([str(root)])
    cfg = CorpusConfig()
    first = source_fingerprint(src, cfg)
    assert source_fingerprint(src, cfg) == first and len(first["files"]) == 2
    shard = root / "part-00001.parquet"
    st = shard.stat()
    os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert source_fingerprint(src, cfg) != first
    assert source_fingerprint(DomainSource("math", "math"), cfg)["builtin"] == "math"


def test_unknown_builtin_domain_is_named():
    with pytest.raises(ConfigError, match="unknown built-in domain 'wikipedia'") as err:
        resolve_domains(["code", "wikipedia"])
    assert "math" in str(err.value) and err.value.where == "domains.wikipedia"


def test_missing_path_and_empty_glob_are_named(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ValidationError, match="does not exist") as err:
        resolve_domains({"x": missing})
    assert str(missing) in str(err.value)
    with pytest.raises(ValidationError, match="no .txt/.jsonl/.parquet files match") as err:
        resolve_domains([str(tmp_path / "*.parquet")])
    assert err.value.where == str(tmp_path / "*.parquet")


def test_empty_domains_and_empty_shard_folders_are_refused(tmp_path):
    root = _folder(tmp_path / "empty", {"a.txt": "", "b.txt": "  \n\n"})
    with pytest.raises(ValidationError, match="no text") as err:
        build_corpora([str(root)], CorpusConfig(), cache_dir=tmp_path / "c")
    assert "empty" in err.value.where
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    (nothing / "x.csv").write_text("a,b", encoding="utf-8")
    with pytest.raises(ValidationError, match="no .txt/.jsonl/.parquet files") as err:
        build_corpora([str(nothing)], CorpusConfig(), cache_dir=tmp_path / "c")
    assert err.value.where == str(nothing)


def test_non_utf8_file_is_named_with_its_line(tmp_path):
    root = _folder(tmp_path / "latin", {"ok.txt": "fine text " * 10})
    bad = root / "bad.txt"
    bad.write_bytes("first line\ncaf\u00e9 cr\u00e8me".encode("latin-1"))
    with pytest.raises(ValidationError, match="not valid UTF-8 \\(line 2, near byte 14") as err:
        build_corpora([str(root)], CorpusConfig(), cache_dir=tmp_path / "c")
    assert err.value.where == str(bad)


def test_bad_jsonl_lines_are_named_with_line_and_column(tmp_path):
    root = tmp_path / "j"
    root.mkdir()
    shard = root / "x.jsonl"
    shard.write_text('{"text": "ok"}\n{"txt": "wrong key"}\n', encoding="utf-8")
    with pytest.raises(ValidationError, match='"text" field') as err:
        build_corpora([str(root)], CorpusConfig(), cache_dir=tmp_path / "c")
    assert err.value.where == f"{shard}:2"
    shard.write_text('{"text": "ok"}\n\n{"text": "a", oops}\n', encoding="utf-8")
    with pytest.raises(ValidationError, match="not valid JSON \\(column 15\\)") as err:
        list(iter_documents(resolve_domains([str(root)])[0], CorpusConfig()))
    assert err.value.where == f"{shard}:3"


def test_parquet_without_a_text_column_is_named(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    pq.write_table(pa.table({"text": ["fine " * 20, "also fine " * 10]}), root / "a.parquet")
    pq.write_table(pa.table({"body": ["x"], "id": [1]}), root / "b.parquet")
    with pytest.raises(ValidationError, match="needs a 'text' column; found \\['body', 'id'\\]"
                       ) as err:
        _one(root)
    assert err.value.where == str(root / "b.parquet")
    pq.write_table(pa.table({"text": [1, 2]}), root / "b.parquet")
    with pytest.raises(ValidationError, match="column 'text' must hold text, got type int64"):
        _one(root)
    (root / "b.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ValidationError, match="cannot read parquet") as err:
        _one(root)
    assert err.value.where == str(root / "b.parquet")


def test_a_file_cap_is_announced(tmp_path, shards, caplog):
    root = shards.jsonl(tmp_path / "many", shards.docs(12), n_shards=6)
    [src] = resolve_domains([str(root)])
    with caplog.at_level("WARNING", logger="admire.proxy.data"):
        prints = source_fingerprint(src, CorpusConfig(max_files=4))
    assert len(prints["files"]) == 4
    assert "reading the first 4 of 6 files" in caplog.text
    assert len(_one(root, CorpusConfig(max_files=4))) == 8

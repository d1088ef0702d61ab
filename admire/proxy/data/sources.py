"""Where a domain's text comes from, read as a stream of documents (never whole into memory).

A domain is a built-in name, or a user path: a folder (searched recursively), a glob such as
``/data/web/*.parquet``, a single ``.txt``/``.jsonl``/``.parquet`` file, or a folder written by
``datasets.Dataset.save_to_disk``. One document per ``.txt`` file, per JSONL line, per Parquet or
dataset row. Parquet is read a record batch at a time with pyarrow, JSONL a line at a time, text
files in bounded pieces, saved datasets through their memory-mapped Arrow files.

Both build passes (count, then tokenize) see exactly the sequence :func:`iter_documents` yields,
and :func:`split_mask` splits it by document with a fixed seed.
"""

from __future__ import annotations

import codecs
import glob
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from admire.errors import ConfigError, ValidationError
from admire.proxy.data.builtin import BUILTIN_DOMAINS, BUILTIN_READERS, builtin_fingerprint
from admire.proxy.data.config import CorpusConfig

log = logging.getLogger("admire.proxy.data")
USER_SUFFIXES: tuple[str, ...] = (".txt", ".jsonl", ".parquet")
_GLOB_CHARS = ("*", "?", "[")
_LINE_LIMIT = 1 << 20  # a .txt line longer than this streams in pieces
_PROBE_BYTES = 1 << 16  # head and tail bytes of each file that enter the fingerprint
_ROWS_PER_BATCH = 1024


@dataclass(frozen=True)
class DomainSource:
    """A named domain and where its text comes from: a built-in name or a path (or glob)."""

    name: str
    source: str

    @property
    def builtin(self) -> bool:
        return self.source in BUILTIN_DOMAINS

    @property
    def where(self) -> str:
        return f"domain {self.name!r} ({self.source})"


def _has_glob(s: str) -> bool:
    return any(c in s for c in _GLOB_CHARS)


def _looks_like_path(s: str) -> bool:
    return (os.sep in s or "/" in s or s.startswith((".", "~")) or Path(s).suffix in USER_SUFFIXES
            or _has_glob(s))


def _default_name(s: str) -> str:
    """The last path component; for a glob, the last folder without wildcards."""
    path = Path(s).expanduser()
    if _has_glob(s):
        parts = [p for p in path.parent.parts if not _has_glob(p)]
        return parts[-1] if parts else s
    return path.name or s


def resolve_domains(domains: Mapping[str, str | Path] | Sequence[str | Path]) -> list[DomainSource]:
    """Accept ``["code", "/data/docs", "mine=/data/x", "web=/data/web/*.parquet"]`` or
    ``{"mine": "/data/x", "code": "code"}``.

    A bare name must be a built-in domain; anything path-like is a user domain named after its
    last path component unless ``name=path`` is given.
    """
    items: list[tuple[str, str]] = []
    if isinstance(domains, Mapping):
        items = [(str(k), str(v)) for k, v in domains.items()]
    else:
        for d in domains:
            s = str(d)
            if "=" in s and not Path(s).exists():
                name, _, src = s.partition("=")
                items.append((name.strip(), src.strip()))
            elif s in BUILTIN_DOMAINS:
                items.append((s, s))
            else:
                items.append((_default_name(s), s))
    if not items:
        raise ConfigError("no domains given", where="domains")
    out: list[DomainSource] = []
    for name, src in items:
        where = f"domains.{name}"
        if not name:
            raise ConfigError("domain name is empty", where=where)
        if src not in BUILTIN_DOMAINS:
            if not _looks_like_path(src) and not Path(src).exists():
                raise ConfigError(f"unknown built-in domain {src!r}; built-ins are "
                                  f"{list(BUILTIN_DOMAINS)} (or give a path to a folder)",
                                  where=where)
            path = Path(src).expanduser()
            if _has_glob(src):
                src = str(path if path.is_absolute() else Path.cwd() / path)
                user_files(DomainSource(name, src))  # refuses a pattern that matches nothing
            else:
                if not path.exists():
                    raise ValidationError("domain path does not exist", where=f"{where}: {path}")
                src = str(path.resolve())
        out.append(DomainSource(name, src))
    names = [d.name for d in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"duplicate domain names {dupes}; name them with name=path",
                          where="domains")
    return out


# --------------------------------------------------------------------------------------------
# User files
# --------------------------------------------------------------------------------------------


def is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and ((path / "dataset_info.json").exists()
                              or (path / "dataset_dict.json").exists())


def _visible_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()
                  and not any(s.startswith(".") for s in p.relative_to(root).parts))


def user_files(source: DomainSource) -> list[Path]:
    """The text files of a user domain in reading order (a saved dataset: its own files)."""
    kinds = "/".join(USER_SUFFIXES)
    if _has_glob(source.source):
        files = sorted(Path(p) for p in glob.glob(source.source, recursive=True)
                       if Path(p).is_file() and Path(p).suffix in USER_SUFFIXES)
        if not files:
            raise ValidationError(f"no {kinds} files match this pattern", where=source.source)
        return files
    path = Path(source.source)
    if not path.exists():
        raise ValidationError("domain path does not exist", where=str(path))
    if is_saved_dataset(path):
        return _visible_files(path)
    if path.is_dir():
        files = [p for p in _visible_files(path) if p.suffix in USER_SUFFIXES]
        if not files:
            raise ValidationError(f"no {kinds} files in this folder", where=str(path))
        return files
    if path.suffix in USER_SUFFIXES:
        return [path]
    raise ValidationError(f"unsupported file type {path.suffix!r}; use a folder of {kinds} "
                          "files, a glob, or a datasets save_to_disk folder", where=str(path))


def _probe(path: Path, size: int) -> str:
    """Hash of a file's first and last 64 KiB: catches rewrites that keep size and mtime."""
    h = hashlib.blake2b(digest_size=12)
    with open(path, "rb") as f:
        h.update(f.read(_PROBE_BYTES))
        if size > 2 * _PROBE_BYTES:
            f.seek(size - _PROBE_BYTES)
            h.update(f.read(_PROBE_BYTES))
    return h.hexdigest()


def source_fingerprint(source: DomainSource, config: CorpusConfig) -> dict[str, Any]:
    """What identifies a domain's text without reading it: for user files each file's path,
    size, mtime and a hash of its ends; for a built-in its package version. Cache keys use it,
    so a second build of a terabyte corpus costs a ``stat`` per file."""
    if source.builtin:
        return builtin_fingerprint(source.source)
    files = user_files(source)
    if not is_saved_dataset(Path(source.source)) and len(files) > config.max_files:
        log.warning("%s: reading the first %d of %d files (raise corpus.max_files to read "
                    "more)", source.where, config.max_files, len(files))
        files = files[: config.max_files]
    rows = []
    for f in files:
        st = f.stat()
        rows.append([str(f), st.st_size, st.st_mtime_ns, _probe(f, st.st_size)])
    return {"files": rows}


def _lines(path: Path, max_chars: int) -> Iterator[str]:
    """A text file's lines (endings kept), decoded strictly. A line longer than ``max_chars`` may
    arrive in parts of whole multiples of ``max_chars``, which :func:`cut_lines` cuts exactly as
    it cuts the whole line, so memory stays bounded even for a file that is one long line."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lineno, offset, partial = 1, 0, ""
    with open(path, "rb") as f:
        while True:
            chunk = f.readline(_LINE_LIMIT)
            try:
                partial += decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                raise ValidationError(f"file is not valid UTF-8 (line {lineno}, near byte "
                                      f"{offset + exc.start}: {exc.reason}); convert it to UTF-8 "
                                      "or remove it", where=str(path)) from None
            if not chunk or chunk.endswith(b"\n"):
                if partial:
                    yield partial
                partial = ""
                if not chunk:
                    return
                lineno += 1
            elif len(partial) >= max_chars:
                whole = len(partial) // max_chars * max_chars
                yield partial[:whole]
                partial = partial[whole:]
            offset += len(chunk)


def _jsonl_docs(path: Path, field: str) -> Iterator[str]:
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValidationError(f"not valid JSON (column {exc.colno}): {exc.msg}",
                                      where=where) from None
            except UnicodeDecodeError as exc:
                raise ValidationError(f"not valid UTF-8 (column {exc.start + 1}): {exc.reason}",
                                      where=where) from None
            if not isinstance(obj, dict) or not isinstance(obj.get(field), str):
                raise ValidationError(f'each line must be a JSON object with a string "{field}" '
                                      "field", where=where)
            yield obj[field]


def _check_text_column(names: Sequence[str], types: Mapping[str, Any], field: str,
                       where: str) -> None:
    import pyarrow as pa

    if field not in names:
        raise ValidationError(f"needs a {field!r} column; found {list(names)}", where=where)
    t = types.get(field)
    if t is not None and pa.types.is_dictionary(t):
        t = t.value_type
    if t is None or not (pa.types.is_string(t) or pa.types.is_large_string(t)
                         or pa.types.is_string_view(t)):
        raise ValidationError(f"column {field!r} must hold text, got type {t}", where=where)


def _parquet_docs(path: Path, field: str) -> Iterator[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(f"cannot read parquet: {exc}", where=str(path)) from None
    _check_text_column(schema.names, {f.name: f.type for f in schema}, field, str(path))
    try:
        for batch in pf.iter_batches(batch_size=_ROWS_PER_BATCH, columns=[field]):
            for value in batch.column(0).to_pylist():
                if isinstance(value, str):
                    yield value
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(f"cannot read parquet: {exc}", where=str(path)) from None


def _dataset_docs(path: Path, field: str) -> Iterator[str]:
    import datasets

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        loaded = datasets.load_from_disk(str(path))  # memory-mapped Arrow, nothing read yet
    except (OSError, ValueError) as exc:
        raise ValidationError(f"cannot load the saved dataset: {exc}", where=str(path)) from None
    finally:
        if bars:
            datasets.enable_progress_bars()
    parts = loaded.values() if isinstance(loaded, datasets.DatasetDict) else [loaded]
    for part in parts:
        types = {k: getattr(v, "pa_type", None) for k, v in part.features.items()}
        _check_text_column(part.column_names, types, field, str(path))
        for batch in part.select_columns([field]).iter(batch_size=_ROWS_PER_BATCH):
            for value in batch[field]:
                if isinstance(value, str):
                    yield value


def _user_docs(source: DomainSource, config: CorpusConfig) -> Iterator[str]:
    """Raw documents of a user domain, file after file."""
    path = Path(source.source)
    if not _has_glob(source.source) and is_saved_dataset(path):
        yield from _dataset_docs(path, config.text_field)
        return
    for file in user_files(source)[: config.max_files]:
        if file.suffix == ".txt":
            yield from cut_lines(_lines(file, config.max_doc_chars), config.max_doc_chars)
        elif file.suffix == ".jsonl":
            yield from _jsonl_docs(file, config.text_field)
        else:
            yield from _parquet_docs(file, config.text_field)


# --------------------------------------------------------------------------------------------
# Documents: cut, capped, split
# --------------------------------------------------------------------------------------------


def cut_lines(lines: Iterable[str], max_chars: int) -> Iterator[str]:
    """Join lines into pieces of at most ``max_chars`` characters, breaking only between lines
    (a longer line is cut hard)."""
    piece: list[str] = []
    size = 0
    for line in lines:
        while len(line) > max_chars:
            if piece:
                yield "".join(piece)
                piece, size = [], 0
            yield line[:max_chars]
            line = line[max_chars:]
        if size + len(line) > max_chars and piece:
            yield "".join(piece)
            piece, size = [], 0
        piece.append(line)
        size += len(line)
    if piece:
        yield "".join(piece)


def cut(doc: str, max_chars: int) -> Iterator[str]:
    """Split a long document at line breaks into pieces of at most ``max_chars`` characters."""
    if len(doc) <= max_chars:
        yield doc
    else:
        yield from cut_lines(doc.splitlines(keepends=True), max_chars)


def iter_documents(source: DomainSource, config: CorpusConfig) -> Iterator[tuple[str, int]]:
    """``(document, UTF-8 bytes)`` of one domain in its fixed order: raw documents cut to
    ``max_doc_chars``, blank ones dropped, stopping once ``max_bytes`` of text were yielded."""
    reader = (BUILTIN_READERS[source.source](config) if source.builtin
              else _user_docs(source, config))
    total = 0
    for raw in reader:
        for doc in cut(raw, config.max_doc_chars):
            if not doc or doc.isspace():
                continue
            n = len(doc) if doc.isascii() else len(doc.encode("utf-8"))
            yield doc, n
            total += n
            if total >= config.max_bytes:
                return


def check_doc_count(n_docs: int, source: DomainSource) -> None:
    if n_docs == 0:
        raise ValidationError("domain has no text (no non-empty documents)", where=source.where)
    if n_docs < 2:
        raise ValidationError("domain needs at least 2 documents for a train/validation split; "
                              "add files or lower corpus.max_doc_chars", where=source.where)


def read_domain_texts(source: DomainSource, config: CorpusConfig) -> list[str]:
    """All capped documents of a (small) domain in memory; builds stream instead."""
    docs = [doc for doc, _ in iter_documents(source, config)]
    check_doc_count(len(docs), source)
    return docs


def split_mask(n_docs: int, name: str, config: CorpusConfig) -> np.ndarray:
    """``True`` for validation documents: a seeded permutation's first ``val_frac`` share, at
    least one document on each side. One byte per document (plus a transient permutation)."""
    seed = [config.seed, int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)]
    perm = np.random.default_rng(seed).permutation(n_docs)
    n_val = min(max(1, round(config.val_frac * n_docs)), n_docs - 1)
    mask = np.zeros(n_docs, dtype=bool)
    mask[perm[:n_val]] = True
    return mask


def split_documents(docs: Sequence[str], name: str, config: CorpusConfig
                    ) -> tuple[list[str], list[str]]:
    """Seeded split by document (order kept on each side); each side keeps one document."""
    mask = split_mask(len(docs), name, config)
    return ([d for d, v in zip(docs, mask, strict=True) if not v],
            [d for d, v in zip(docs, mask, strict=True) if v])

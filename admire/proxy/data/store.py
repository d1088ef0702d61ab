"""Token streams on disk, memory-mapped on load (the Megatron indexed-dataset idea).

A cached domain is a folder holding, per split, ``<split>.bin`` (the token ids of every document,
each ended by EOS, as raw little-endian uint16 or uint32) and ``<split>.idx`` (int64 document
offsets, starting at 0), plus ``admire_meta.json``. Opening one maps the files: a Ray worker that
opens every domain holds none of them in RAM, and sampling a trial pages in only its windows.

A folder is written under a private temporary name and renamed into place, so concurrent
builders (Ray actors on one node) never see half a cache; a file lock makes the later ones wait
for the first and then load its result.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from admire.errors import ValidationError
from admire.proxy.data.config import FORMAT_VERSION

META = "admire_meta.json"
SPLITS = ("train", "validation")


class SplitWriter:
    """Appends documents to one split's ``.bin`` (tokens) and ``.idx`` (end offsets)."""

    def __init__(self, folder: Path, split: str, dtype: np.dtype) -> None:
        self.dtype = np.dtype(dtype)
        self.tokens = 0
        self.docs = 0
        self._bin: BinaryIO = open(folder / f"{split}.bin", "wb")  # noqa: SIM115 - closed in close()
        self._idx: BinaryIO = open(folder / f"{split}.idx", "wb")  # noqa: SIM115
        np.zeros(1, dtype=np.int64).tofile(self._idx)

    def append(self, ids: np.ndarray, lengths: np.ndarray) -> None:
        """``ids``: the documents' tokens back to back; ``lengths``: tokens per document."""
        ids.astype(self.dtype, copy=False).tofile(self._bin)
        (self.tokens + np.cumsum(lengths, dtype=np.int64)).tofile(self._idx)
        self.tokens += int(ids.size)
        self.docs += int(lengths.size)

    def close(self) -> None:
        self._bin.close()
        self._idx.close()


@dataclass(frozen=True)
class TokenizedDomain:
    """One domain as two flat token streams (documents concatenated, each ended by EOS).

    ``train`` and ``validation`` are read-only arrays over memory maps when loaded from the
    cache (see :func:`is_mapped`).
    """

    name: str
    source: str
    train: np.ndarray = field(repr=False)
    validation: np.ndarray = field(repr=False)
    n_train_docs: int
    n_val_docs: int
    path: Path | None = None

    def doc_offsets(self, split: str = "train") -> np.ndarray:
        """Start offsets of the split's documents plus the end (``n_docs + 1`` values)."""
        if self.path is None:
            raise ValidationError("domain was not cached; no document index",
                                  where=f"domain {self.name!r}")
        n_docs = self.n_train_docs if split == "train" else self.n_val_docs
        return _map(self.path / f"{split}.idx", np.dtype(np.int64), n_docs + 1)


def _map(path: Path, dtype: np.dtype, n: int, random_access: bool = False) -> np.ndarray:
    """A read-only array of ``n`` values backed by a memory map of ``path`` (no copy).

    ``random_access`` advises the kernel not to read ahead: a trial reads scattered windows,
    and read-ahead would fetch (and map) far more than each window from a cold file.
    """
    if n == 0:
        return np.zeros(0, dtype=dtype)  # an empty file cannot be mapped
    expected = n * dtype.itemsize
    if not path.is_file() or path.stat().st_size != expected:
        raise ValidationError(f"cache file is missing or not {expected} bytes; delete the "
                              "folder to rebuild it", where=str(path))
    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if random_access and hasattr(mmap, "MADV_RANDOM"):
        mapped.madvise(mmap.MADV_RANDOM)
    return np.frombuffer(mapped, dtype=dtype, count=n)


def is_mapped(array: np.ndarray) -> bool:
    """Whether ``array`` (or the array it views) is backed by a memory map, not by RAM."""
    base: Any = array
    while base is not None:
        if isinstance(base, mmap.mmap | np.memmap):
            return True
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    return False


def load_tokenized(path: str | Path) -> TokenizedDomain:
    """Open one cached domain (memory-mapped); used by workers given a manifest."""
    path = Path(path)
    meta_path = path / META
    if not meta_path.exists():
        raise ValidationError("not a cached admire domain (no admire_meta.json)", where=str(path))
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT_VERSION:
        raise ValidationError(f"cache format {meta.get('format')!r} is not {FORMAT_VERSION}; "
                              "rebuild the corpora", where=str(path))
    dtype = np.dtype(meta["dtype"])
    splits = meta["splits"]
    return TokenizedDomain(
        name=meta["name"], source=meta["source"],
        train=_map(path / "train.bin", dtype, int(splits["train"]["tokens"]), random_access=True),
        validation=_map(path / "validation.bin", dtype, int(splits["validation"]["tokens"])),
        n_train_docs=int(splits["train"]["docs"]), n_val_docs=int(splits["validation"]["docs"]),
        path=path)


@contextlib.contextmanager
def staged(target: Path, meta: Mapping[str, Any] | None = None) -> Iterator[Path]:
    """A private folder next to ``target``; on success it is renamed onto ``target``.

    The caller fills the folder and updates ``meta`` (written last, as the completion mark).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if meta is not None:
            (tmp / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        try:
            tmp.rename(target)
        except OSError:
            if not (target / META).exists():  # lost a race to another builder: keep theirs
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def build_lock(target: Path) -> Any:
    """An inter-process lock for building ``target`` (a ``filelock.FileLock``)."""
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(target.parent / f".{target.name}.lock"))

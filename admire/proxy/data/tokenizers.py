"""Tokenizers: UTF-8 bytes, a byte-level BPE trained on the corpus, or a local HF tokenizer.

Subword tokenizers are ``tokenizers.Tokenizer`` objects (Rust, fast): a batch of documents is
encoded with ``encode_batch_fast``, which spreads the documents over the machine's cores
(``RAYON_NUM_THREADS`` caps them). Nothing is ever fetched from a hub.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from admire.errors import ConfigError, ValidationError

BPE_SPECIALS = ("<|bos|>", "<|eos|>", "<|pad|>")
# special tokens recognised by name in a bare tokenizer.json (a folder says which it uses)
_EOS_NAMES = ("<|eos|>", "<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>", "[SEP]")
_BOS_NAMES = ("<|bos|>", "<s>", "<bos>", "<|begin_of_text|>", "[CLS]")
_PAD_NAMES = ("<|pad|>", "<pad>", "[PAD]")


def token_dtype(vocab_size: int) -> np.dtype:
    """The narrowest unsigned type that holds every id: half the disk and page cache of int32."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


class Tokenizer(Protocol):
    """What the token store, sampler and trainer need from a tokenizer."""

    vocab_size: int
    bos_id: int | None
    eos_id: int
    pad_id: int | None

    @property
    def fingerprint(self) -> str: ...

    @property
    def dtype(self) -> np.dtype: ...

    def encode(self, text: str) -> np.ndarray: ...

    def encode_docs(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def manifest(self) -> dict[str, Any]: ...


class ByteTokenizer:
    """UTF-8 bytes 0..255 plus BOS/EOS/PAD: no training, no files, any language."""

    vocab_size = 259
    bos_id = 256
    eos_id = 257
    pad_id = 258

    @property
    def fingerprint(self) -> str:
        return "byte-v1"

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint16)

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.uint16)

    def encode_docs(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All documents' ids in one flat array, each ended by EOS, and each one's length."""
        raw = [d.encode("utf-8") for d in docs]
        lengths = np.fromiter((len(b) + 1 for b in raw), dtype=np.int64, count=len(raw))
        out = np.empty(int(lengths.sum()), dtype=np.uint16)
        eos_at = np.cumsum(lengths) - 1
        is_text = np.ones(out.size, dtype=bool)
        is_text[eos_at] = False
        out[is_text] = np.frombuffer(b"".join(raw), dtype=np.uint8)
        out[eos_at] = self.eos_id
        return out, lengths

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(int(i) for i in ids if int(i) < 256).decode("utf-8", errors="replace")

    def manifest(self) -> dict[str, Any]:
        return {"kind": "byte"}


class SubwordTokenizer:
    """A fast ``tokenizers.Tokenizer`` with its special ids: admire's trained BPE
    (``kind="bpe"``, specials are ids 0, 1, 2) or a user's local tokenizer (``kind="hf"``)."""

    def __init__(self, tok: Any, *, eos_id: int, bos_id: int | None = None,
                 pad_id: int | None = None, kind: str = "bpe", path: Path | None = None) -> None:
        self._tok = tok
        self.kind = kind
        self.path = path
        self.eos_id, self.bos_id, self.pad_id = int(eos_id), bos_id, pad_id
        vocab = tok.get_vocab(with_added_tokens=True)
        self.vocab_size = max(int(tok.get_vocab_size(with_added_tokens=True)),
                              max(vocab.values(), default=-1) + 1)
        specials = json.dumps([self.bos_id, self.eos_id, self.pad_id])
        digest = hashlib.sha256((tok.to_str() + specials).encode()).hexdigest()
        self._fingerprint = f"{kind}-{digest[:24]}"

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def dtype(self) -> np.dtype:
        return token_dtype(self.vocab_size)

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._tok.encode(text, add_special_tokens=False).ids, dtype=self.dtype)

    def encode_docs(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All documents' ids in one flat array, each ended by EOS, and each one's length; the
        batch is encoded in parallel in Rust (offsets are not computed)."""
        ids = [e.ids for e in self._tok.encode_batch_fast(list(docs), add_special_tokens=False)]
        lengths = np.fromiter((len(x) + 1 for x in ids), dtype=np.int64, count=len(ids))
        out = np.empty(int(lengths.sum()), dtype=self.dtype)
        pos = 0
        for x in ids:
            n = len(x)
            out[pos:pos + n] = x
            out[pos + n] = self.eos_id
            pos += n + 1
        return out, lengths

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._tok.decode([int(i) for i in ids]))

    def manifest(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path) if self.path else None}

    def save(self, path: Path) -> None:
        """Write the tokenizer JSON atomically (temp file, then rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        self._tok.save(str(tmp))
        os.replace(tmp, path)
        self.path = path

    @classmethod
    def load_bpe(cls, path: str | Path) -> SubwordTokenizer:
        """A BPE that admire trained (specials ``<|bos|>``, ``<|eos|>``, ``<|pad|>`` = 0, 1, 2)."""
        from tokenizers import Tokenizer as HFTokenizer

        path = Path(path)
        if not path.is_file():
            raise ValidationError("tokenizer file not found", where=str(path))
        tok = HFTokenizer.from_file(str(path))
        for i, special in enumerate(BPE_SPECIALS):
            if tok.token_to_id(special) != i:
                raise ValidationError(f"special token {special!r} must have id {i}",
                                      where=str(path))
        return cls(tok, bos_id=0, eos_id=1, pad_id=2, kind="bpe", path=path)


BPETokenizer = SubwordTokenizer  # the name earlier versions used


def train_bpe(texts: Iterable[str], vocab_size: int) -> SubwordTokenizer:
    """Train a byte-level BPE on local text (seconds for a few MB; nothing is downloaded)."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(BPE_SPECIALS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return SubwordTokenizer(tok, bos_id=0, eos_id=1, pad_id=2, kind="bpe")


def _by_name(tok: Any, names: Sequence[str]) -> int | None:
    for name in names:
        i = tok.token_to_id(name)
        if i is not None:
            return int(i)
    return None


def load_local_tokenizer(path: str | Path) -> SubwordTokenizer:
    """A user's tokenizer: a ``tokenizer.json`` file (special tokens found by their usual names)
    or a Hugging Face tokenizer folder (``AutoTokenizer.from_pretrained``, offline)."""
    from tokenizers import Tokenizer as HFTokenizer

    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigError(f"tokenizer path {str(p)!r} does not exist; give 'byte', 'bpe', a "
                          "tokenizer.json or a local Hugging Face tokenizer folder",
                          where="corpus.tokenizer")
    if p.is_file():
        try:
            tok = HFTokenizer.from_file(str(p))
        except Exception as exc:  # noqa: BLE001 - the Rust side raises a bare Exception
            raise ValidationError(f"not a tokenizers JSON file: {exc}", where=str(p)) from None
        eos, bos, pad = (_by_name(tok, n) for n in (_EOS_NAMES, _BOS_NAMES, _PAD_NAMES))
    else:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoTokenizer

        try:
            hf = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - transformers raises many types here
            raise ValidationError(f"cannot load a tokenizer from this folder: {exc}",
                                  where=str(p)) from None
        if not getattr(hf, "is_fast", False):
            raise ValidationError("needs a fast tokenizer (a tokenizer.json in the folder)",
                                  where=str(p))
        tok = HFTokenizer.from_str(hf.backend_tokenizer.to_str())
        eos, bos, pad = hf.eos_token_id, hf.bos_token_id, hf.pad_token_id
    if eos is None:
        raise ValidationError(f"tokenizer has no end-of-text token (one of {list(_EOS_NAMES)}, "
                              "or eos_token in a folder's config); documents need a separator",
                              where=str(p))
    tok.no_truncation()
    tok.no_padding()
    return SubwordTokenizer(tok, eos_id=eos, bos_id=bos, pad_id=pad, kind="hf", path=p)


def tokenizer_from_manifest(manifest: Mapping[str, Any]) -> Tokenizer:
    kind = manifest.get("kind")
    if kind == "byte":
        return ByteTokenizer()
    if kind == "bpe":
        return SubwordTokenizer.load_bpe(manifest["path"])
    if kind == "hf":
        return load_local_tokenizer(manifest["path"])
    raise ValidationError(f"unknown tokenizer kind {kind!r}", where="manifest.tokenizer")

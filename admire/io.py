"""One atomic write for every file admire keeps: a crash mid-write never leaves a torn file.

Write to a temporary file in the same folder, fsync it, then rename it over the target: the
rename is atomic on POSIX, so a reader sees the old file or the new one, never half of either.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | Path, write: Callable[[Path], None], *,
                 tmp_suffix: str = ".tmp") -> Path:
    """Call ``write(tmp)`` to fill a temporary file, then move it over ``path`` atomically.

    On any error the temporary file is removed and ``path`` is left exactly as it was.
    ``tmp_suffix`` is for writers that insist on a file extension.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=tmp_suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, payload: Any, *, indent: int | None = 1) -> Path:
    return atomic_write_text(path, json.dumps(payload, indent=indent, default=str))

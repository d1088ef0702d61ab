"""Which columns of a user's CSV are domain weights and which are metrics, and which look like
typos of them.

Columns are chosen by explicit lists (``--weight-columns code,math``), by prefix
(``--weight-prefix ratio_``), or both; without either the prefixes ``ratio_`` / ``metric_`` apply
(the layout of ADMIRE IFT Runs). A typo in a header is silent otherwise: a weight column whose
prefix is misspelt is dropped, and a misspelt domain becomes a second domain. So names within a
small edit distance of a chosen column, or of the prefix, are flagged.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from admire.errors import ValidationError

DEFAULT_WEIGHT_PREFIX = "ratio_"
DEFAULT_METRIC_PREFIX = "metric_"
MIN_PREFIX_FOR_TYPOS = 4  # shorter prefixes are one edit away from too many ordinary names
MIN_TYPO_LENGTH = 4  # likewise for names: 'a' and 'b' are one edit apart but no typo


@dataclass(frozen=True)
class Selection:
    """``names``: internal name (domain or metric) -> the user's column, in file order."""

    what: str  # "weight" or "metric"
    names: dict[str, str]
    prefix: str | None


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
    neighbouring characters (``cdoe`` -> ``code`` is one edit) each cost one."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def close_names(a: str, b: str) -> bool:
    """Probably one name mistyped as the other: one edit apart (two for long names), ignoring
    case. Names shorter than four characters (``a``/``b``) and names that differ only in digits
    (``web1``/``web2``, ``100k``/``200k``) are taken as distinct on purpose."""
    if (a == b or min(len(a), len(b)) < MIN_TYPO_LENGTH
            or re.sub(r"\d", "", a) == re.sub(r"\d", "", b)):
        return False
    limit = 1 if max(len(a), len(b)) <= 10 else 2
    return edit_distance(a.lower(), b.lower()) <= limit


def closest(name: str, candidates: Sequence[str], *, strict: bool = False) -> str | None:
    """The candidate a mistyped ``name`` most likely meant, if any is close. ``strict`` applies
    :func:`close_names`'s exceptions; a name that matched nothing gets suggestions without them
    (``wbe`` -> ``web``)."""
    def distance(c: str) -> int:
        return edit_distance(name.lower(), c.lower())

    limit = 1 if len(name) <= 10 else 2
    near = [c for c in candidates if c != name and (
        close_names(name, c) if strict else distance(c) <= limit)]
    return min(near, key=distance, default=None)


def select(columns: Sequence[str], *, what: str, listed: Sequence[str] | None,
           prefix: str | None, default_prefix: str, reserved: Collection[str],
           source: str) -> Selection:
    """Choose the ``what`` columns: the ``listed`` ones and those starting with ``prefix`` (the
    default prefix only when neither is given); the prefix is removed from the names."""
    list_option, prefix_option = f"--{what}-columns", f"--{what}-prefix"
    use_prefix = prefix if prefix is not None else (None if listed else default_prefix)
    if use_prefix == "":
        raise ValidationError("an empty prefix would take every column; give a prefix or list "
                              f"the columns with {list_option}", where=prefix_option)
    chosen: set[str] = set()
    for name in listed or []:
        if name not in columns:
            guess = closest(name, columns)
            hint = f"; did you mean {guess!r}?" if guess else f"; columns are {list(columns)}"
            raise ValidationError(f"no column {name!r} in the file{hint}", where=list_option)
        if name in reserved:
            raise ValidationError(f"column {name!r} is already the fidelity, cost or run-id "
                                  "column", where=list_option)
        chosen.add(name)
    if use_prefix is not None:
        chosen |= {c for c in columns if c.startswith(use_prefix) and c not in reserved}
    if not chosen:
        raise ValidationError(f"no {what} columns: none start with {use_prefix!r}; name them "
                              f"with {list_option} a,b,c or {prefix_option}; columns are "
                              f"{list(columns)}", where=source)
    names: dict[str, str] = {}
    for column in (c for c in columns if c in chosen):  # file order
        strip = use_prefix is not None and column.startswith(use_prefix)
        name = column[len(use_prefix):] if strip and use_prefix else column
        if not name:
            raise ValidationError(f"{what} column {column!r} has no name after the prefix",
                                  where=source)
        if name in names:
            raise ValidationError(f"{what} columns {names[name]!r} and {column!r} both give "
                                  f"the name {name!r}", where=source)
        names[name] = column
    return Selection(what, names, use_prefix)


def probable_typos(ignored: Sequence[str], selections: Sequence[Selection]) -> list[str]:
    """Human-readable flags for names that look mistyped (see the module docstring)."""
    flags: list[str] = []
    for sel in selections:
        chosen = list(sel.names.values())
        if sel.what == "weight":  # compared without the prefix they share
            pairs = list(sel.names.items())
            for i, (a, col_a) in enumerate(pairs):
                flags += [f"weight columns {col_a!r} and {col_b!r} have close names: if one is "
                          "a typo of the other, one domain was split into two"
                          for b, col_b in pairs[i + 1:] if close_names(a, b)]
        for column in ignored:
            near = closest(column, chosen, strict=True)
            if near is not None:
                flags.append(f"ignored column {column!r} is close to {sel.what} column "
                             f"{near!r}: a typo?")
            elif _near_prefix(column, sel.prefix):
                flags.append(f"ignored column {column!r} looks like a {sel.what} column with a "
                             f"misspelt prefix (the {sel.what} prefix is {sel.prefix!r})")
    return flags


def _near_prefix(column: str, prefix: str | None) -> bool:
    if prefix is None or len(prefix) < MIN_PREFIX_FOR_TYPOS:
        return False
    return any(len(column) > k and edit_distance(column[:k].lower(), prefix.lower()) <= 1
               for k in (len(prefix) - 1, len(prefix), len(prefix) + 1))

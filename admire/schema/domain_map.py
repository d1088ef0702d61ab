"""Map mixtures over an old domain set onto a new one (domains added, removed, split, renamed).

LM data changes between studies: a source is added, a dirty one removed, a coarse one split
into finer sources, or one renamed. A :class:`DomainMap` is the (K_old, K_new) matrix that
carries each old domain's weight to the new domains, so an earlier study's runs can be read in
the new study's space:

* unchanged or ``renamed``: all of the old weight to one new domain;
* ``split``: old domain -> several new ones, in proportion to their tokens (what a
  token-proportional sampler of the old, merged source drew) or by explicit fractions;
* ``removed``: the old weight goes nowhere. A run that put weight on it is dropped
  (``on_removed = "drop"``, the default: its mixture does not exist in the new space) or
  renormalised over the rest (``"renormalize"``: keeps more runs, at the price of assuming the
  removed source did not matter);
* ``added``: new domains no old run used (weight 0 in every mapped row).

Every old domain must go somewhere (or be removed), every new domain must come from exactly one
place; violations are :class:`~admire.errors.ConfigError` naming the field and the value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from admire.errors import ConfigError
from admire.schema import runs

FRACTION_TOL = 1e-6
WEIGHT_TOL = 1e-6  # a mapped row must sum to 1 within this (before any renormalisation)
REMOVED_TOL = 1e-9  # weight on a removed domain above this marks the run as affected
OnRemoved = Literal["drop", "renormalize"]
Split = Mapping[str, Sequence[str] | Mapping[str, float]]


@dataclass(frozen=True)
class DomainMap:
    """Old domains -> new domains as a matrix; ``affected`` are the new domains whose weight
    the update changed (split targets and added domains)."""

    old: tuple[str, ...]
    new: tuple[str, ...]
    matrix: np.ndarray  # (K_old, K_new): row i distributes old domain i's weight
    removed: tuple[str, ...]
    affected: tuple[str, ...]
    on_removed: OnRemoved = "drop"

    def apply(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mapped weights (m, K_new), mask (n,) of the input rows kept)."""
        weights = np.atleast_2d(np.asarray(weights, dtype=float))
        removed = np.isin(self.old, self.removed)
        lost = weights[:, removed].sum(axis=1) if removed.any() else np.zeros(len(weights))
        mapped = weights @ self.matrix
        if self.on_removed == "drop":
            keep = lost <= REMOVED_TOL
        else:
            keep = mapped.sum(axis=1) > REMOVED_TOL  # a run entirely on removed domains goes
            mapped = mapped / np.where(keep, mapped.sum(axis=1), 1.0)[:, None]
        mapped = mapped[keep]
        off = np.abs(mapped.sum(axis=1) - 1.0) if len(mapped) else np.zeros(0)
        if len(off) and off.max() > WEIGHT_TOL + runs.DEFAULT_WEIGHT_TOL:
            row = int(np.flatnonzero(keep)[int(np.argmax(off))])
            raise ConfigError(f"mapped weights sum to {mapped.sum(axis=1)[np.argmax(off)]:.6g}, "
                              "not 1 (the old weights did not sum to 1)", where=f"row {row + 1}")
        if len(mapped):
            mapped = mapped / mapped.sum(axis=1, keepdims=True)  # rounding only, checked above
        return mapped, keep

    def apply_table(self, table: pd.DataFrame, *, where: str = "runs table") -> pd.DataFrame:
        """A runs table with ``w:<old>`` columns -> the same runs with ``w:<new>`` columns
        (rows on removed domains dropped or renormalised, see the module)."""
        have = runs.domains(table)
        if sorted(have) != sorted(self.old):
            raise ConfigError(f"the table's domains {sorted(have)} are not the mapping's old "
                              f"domains {sorted(self.old)}", where=where)
        weights = table[[runs.WEIGHT_PREFIX + d for d in self.old]].to_numpy(dtype=float)
        try:
            mapped, keep = self.apply(weights)
        except ConfigError as exc:
            raise ConfigError(exc.problem, where=f"{where}: {exc.where}") from None
        rest = table.loc[keep, [c for c in table.columns if c not in runs.weight_columns(table)]]
        out = pd.DataFrame(mapped, columns=[runs.WEIGHT_PREFIX + d for d in self.new],
                           index=rest.index)
        out = pd.concat([out, rest], axis=1).reset_index(drop=True)
        return out[runs.canonical_order(out)]


def _names(value: object, field: str, where: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(
            isinstance(v, str) for v in value):
        raise ConfigError(f"expected a list of domain names, got {value!r}",
                          where=f"{where}.{field}")
    return list(value)


def _fractions(old: str, targets: Sequence[str] | Mapping[str, float],
               tokens: Mapping[str, float] | None, where: str) -> dict[str, float]:
    """Split fractions of one old domain: explicit, or proportional to the targets' tokens."""
    place = f"{where}.split.{old}"
    if isinstance(targets, Mapping):
        shares = {str(k): v for k, v in targets.items()}
        for name, share in shares.items():
            if isinstance(share, bool) or not isinstance(share, int | float) or share < 0:
                raise ConfigError(f"split fraction must be a number >= 0, got {share!r}",
                                  where=f"{place}.{name}")
        total = sum(shares.values())
        if abs(total - 1.0) > FRACTION_TOL:
            raise ConfigError(f"split fractions sum to {total:.6g}, not 1", where=place)
        return {k: float(v) for k, v in shares.items()}
    names = _names(targets, f"split.{old}", where)
    if len(names) < 2:
        raise ConfigError(f"a split needs two or more new domains, got {names!r}", where=place)
    missing = [n for n in names if tokens is None or n not in tokens]
    if missing:
        raise ConfigError(f"a token-proportional split needs the token counts of {missing}: "
                          "give tokens = {name = count, ...} or explicit fractions "
                          "(split.<old> = {new = fraction, ...})", where=place)
    assert tokens is not None
    counts = np.array([float(tokens[n]) for n in names])
    if not np.all(np.isfinite(counts)) or np.any(counts < 0) or counts.sum() <= 0:
        raise ConfigError(f"token counts must be >= 0 and not all 0, got "
                          f"{dict(zip(names, counts.tolist(), strict=True))}",
                          where=f"{where}.tokens")
    return dict(zip(names, (counts / counts.sum()).tolist(), strict=True))


def domain_map(old: Sequence[str], new: Sequence[str], *,
               renamed: Mapping[str, str] | None = None, split: Split | None = None,
               added: Sequence[str] = (), removed: Sequence[str] = (),
               tokens: Mapping[str, float] | None = None, on_removed: OnRemoved = "drop",
               where: str = "warm_start") -> DomainMap:
    """Validate a mapping from ``old`` to ``new`` domains and build its matrix.

    An old domain neither renamed, split nor removed keeps its name and must be a new domain;
    a new domain must come from exactly one old domain, split or ``added``.
    """
    renamed, split = dict(renamed or {}), dict(split or {})
    added, removed = _names(added, "added", where), _names(removed, "removed", where)
    if on_removed not in ("drop", "renormalize"):
        raise ConfigError(f"expected 'drop' or 'renormalize', got {on_removed!r}",
                          where=f"{where}.on_removed")
    old_set, new_set = set(old), set(new)
    for field, names in (("renamed", renamed), ("split", split), ("removed", removed)):
        for name in names:
            if name not in old_set:
                raise ConfigError(f"unknown old domain {name!r}; the old domains are "
                                  f"{sorted(old_set)}", where=f"{where}.{field}")
    for name, value in renamed.items():
        if not isinstance(value, str):
            raise ConfigError(f"expected a new domain name, got {value!r}",
                              where=f"{where}.renamed.{name}")
    fractions = {o: _fractions(o, t, tokens, where) for o, t in split.items()}
    claims: dict[str, str] = {}  # new domain -> where it comes from

    def claim(name: str, source: str, field: str) -> None:
        if name not in new_set:
            raise ConfigError(f"unknown new domain {name!r}; the new domains are "
                              f"{sorted(new_set)}", where=f"{where}.{field}")
        if name in claims:
            raise ConfigError(f"new domain {name!r} is claimed twice: by {claims[name]} and "
                              f"by {source}", where=f"{where}.{field}")
        claims[name] = source

    matrix = np.zeros((len(old), len(new)))
    column = {d: j for j, d in enumerate(new)}
    for i, name in enumerate(old):
        places = [f for f, names in (("renamed", renamed), ("split", split),
                                     ("removed", removed)) if name in names]
        if len(places) > 1:
            raise ConfigError(f"old domain {name!r} appears in both {places[0]} and "
                              f"{places[1]}", where=f"{where}.{places[1]}")
        if name in removed:
            continue
        if name in split:
            for target, share in fractions[name].items():
                claim(target, f"split of {name!r}", f"split.{name}")
                matrix[i, column[target]] = share
            continue
        target = renamed.get(name, name)
        if name not in renamed and name not in new_set:
            raise ConfigError(f"old domain {name!r} is mapped nowhere: it is not a new domain;"
                              " rename, split or remove it", where=f"{where}.{name}")
        claim(target, f"old domain {name!r}", f"renamed.{name}" if name in renamed else name)
        matrix[i, column[target]] = 1.0
    for name in added:
        claim(name, "added", "added")
    unclaimed = [d for d in new if d not in claims]
    if unclaimed:
        raise ConfigError(f"new domains {unclaimed} come from no old domain; list them in "
                          "added (or name their source in renamed/split)", where=where)
    affected = tuple(d for d in new if d in added
                     or any(d in fractions[o] for o in fractions))
    return DomainMap(tuple(old), tuple(new), matrix, tuple(removed), affected, on_removed)

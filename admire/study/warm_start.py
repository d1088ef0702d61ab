"""Read a study's ``[[warm_start]]`` sources into :class:`~admire.bo.prior.PriorRuns`, and keep
them with the study.

Each source (a study directory or a runs table) is read, its completed runs mapped into this
study's domains (:mod:`admire.schema.domain_map`), and its objective oriented like this
study's. The mapped runs are saved in the study directory (``prior_runs.json``) at the first
save, so a resumed study fits exactly the same model even if a source moved or grew since.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from admire.bo.prior import PriorRuns, best_anchor
from admire.errors import ConfigError, ValidationError
from admire.io import atomic_write_json
from admire.schema import runs
from admire.schema.config import StudyConfig
from admire.schema.domain_map import domain_map

PRIOR_FILE = "prior_runs.json"


def _read_source(source: str, rungs: list[str], where: str) -> pd.DataFrame:
    path = Path(source)
    if path.is_dir():
        path = path / "runs.parquet"
    if not path.exists():
        raise ConfigError(f"no study directory or runs table at {source!r}",
                          where=f"{where}.source")
    try:
        return runs.read_runs(path, rungs=rungs)
    except ValidationError as exc:
        raise ConfigError(f"{exc.problem} (this study's ladder has {rungs})",
                          where=f"{where}.source: {exc.where}") from None


def load_prior(config: StudyConfig) -> PriorRuns | None:
    """The config's warm-start runs in its domain space (None without ``[[warm_start]]``)."""
    if not config.warm_start:
        return None
    sign = -1.0 if config.objective.minimize else 1.0
    metric = runs.METRIC_PREFIX + config.objective.metric
    rungs = list(config.ladder.names)
    parts, affected = [], ()
    for i, item in enumerate(config.warm_start):
        where = f"warm_start[{i}]"
        table = _read_source(item.source, rungs, where)
        if metric not in table.columns:
            raise ConfigError(f"has no column {metric!r} (this study's objective); it has "
                              f"{runs.metric_columns(table)}", where=f"{where}.source")
        table = table[table[runs.STATUS] == runs.COMPLETED]
        mapping = domain_map(runs.domains(table), config.domain_names, renamed=item.renamed,
                             split=item.split, added=item.added, removed=item.removed,
                             tokens=item.tokens, on_removed=item.on_removed, where=where)
        mapped = mapping.apply_table(table, where=f"{where}.source")
        if not len(mapped):
            raise ConfigError("no completed run of this source is left in the new domains",
                              where=f"{where}.source")
        weights = mapped[[runs.WEIGHT_PREFIX + d for d in config.domain_names]].to_numpy(float)
        rung = mapped[runs.RUNG].map({r: j for j, r in enumerate(rungs)}).to_numpy(int)
        parts.append((weights, rung, sign * mapped[metric].to_numpy(float),
                      np.full(len(mapped), i)))
        affected = tuple(config.domain_names.index(d) for d in mapping.affected)
    weights, rung, y, source = (np.concatenate([p[j] for p in parts]) for j in range(4))
    latest = source == len(parts) - 1
    return PriorRuns(weights, rung, y, source, tuple(w.source for w in config.warm_start),
                     affected, best_anchor(weights[latest], rung[latest], y[latest]))


def write_prior(prior: PriorRuns, directory: Path) -> None:
    atomic_write_json(directory / PRIOR_FILE, {
        "weights": prior.weights.tolist(), "rung": prior.rung.tolist(), "y": prior.y.tolist(),
        "source": prior.source.tolist(), "sources": list(prior.sources),
        "affected": list(prior.affected), "anchor": prior.anchor.tolist()})


def read_prior(directory: Path) -> PriorRuns | None:
    """The saved prior runs of a study directory (None if it has none)."""
    path = directory / PRIOR_FILE
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return PriorRuns(np.array(d["weights"], dtype=float), np.array(d["rung"], dtype=int),
                         np.array(d["y"], dtype=float), np.array(d["source"], dtype=int),
                         tuple(d["sources"]), tuple(d["affected"]),
                         np.array(d["anchor"], dtype=float))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"not a readable prior-runs file ({type(exc).__name__}: {exc})",
                              where=str(path)) from None

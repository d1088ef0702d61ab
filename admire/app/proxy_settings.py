"""A study's ``[proxy]`` table: how live trials build their corpora and score a trained proxy.

Read once in the driver and validated against the study (its domains and objective metric), so
a typo fails before any cluster starts, with the field named:

    [proxy]
    seed = 0                                   # every trial trains with this seed (see below)
    objective = { mean_over = ["dialogue", "legal"] }   # or { held_out = "legal" }; default: all
    cache_dir = "~/.cache/admire"              # optional; default $ADMIRE_CACHE or ~/.cache/admire
    [proxy.corpus]                             # admire.proxy.corpora.CorpusConfig fields
    max_bytes = 1_000_000

All trials share one seed (common random numbers): two mixtures then differ only by their data,
not by their initialisation or batch order, which takes noise out of the comparison the
optimiser makes. Seed robustness is checked after the study (``bench/tune_default.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from admire.errors import ConfigError
from admire.proxy.corpora import CorpusConfig
from admire.proxy.train import Objective
from admire.schema.config import StudyConfig, proxy_seed

PROXY_FIELDS = ("seed", "objective", "cache_dir", "corpus")
FIXED_METRICS = ("objective", "train_loss", "tokens_per_s", "wall_s", "cpu_s", "flops",
                 "n_params")


@dataclass(frozen=True)
class ProxySettings:
    """What the driver and every worker need beyond the study config."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    objective: Mapping[str, Any] | None = None  # as train_proxy takes it
    seed: int = 0
    cache_dir: str | None = None

    @classmethod
    def from_config(cls, config: StudyConfig, where: str = "proxy") -> ProxySettings:
        """Parse ``config.proxy``; check the objective's domains and the study's metric."""
        table = dict(config.proxy)
        unknown = sorted(set(table) - set(PROXY_FIELDS))
        if unknown:
            raise ConfigError(f"unknown fields {unknown}; allowed: {list(PROXY_FIELDS)}",
                              where=where)
        seed = proxy_seed(config, where)
        cache_dir = table.get("cache_dir")
        if cache_dir is not None and not isinstance(cache_dir, str):
            raise ConfigError(f"must be a path, got {cache_dir!r}", where=f"{where}.cache_dir")
        corpus_table = table.get("corpus", {})
        if not isinstance(corpus_table, Mapping):
            raise ConfigError("must be a table", where=f"{where}.corpus")
        corpus = CorpusConfig.from_dict(corpus_table, where=f"{where}.corpus")
        objective = table.get("objective")
        parsed = Objective.from_config(objective, where=f"{where}.objective")
        names = config.domain_names
        unknown_domains = [d for d in parsed.targets(names) if d not in names]
        if unknown_domains:
            raise ConfigError(f"unknown domains {unknown_domains}; the study has {names}",
                              where=f"{where}.objective")
        if parsed.kind == "held_out":
            held = parsed.targets(names)[0]
            domain = next(d for d in config.domains if d.name == held)
            if domain.lower > 0 or domain.upper > 0:
                raise ConfigError(f"held-out domain {held!r} must have upper = 0 in its "
                                  "[[domain]] table (it may not be trained on)",
                                  where=f"{where}.objective.held_out")
        check_metric(config)
        return cls(corpus, None if objective is None else dict(objective), seed,
                   None if cache_dir is None else str(Path(cache_dir).expanduser()))

    def domain_sources(self, config: StudyConfig, base_dir: Path | None = None
                       ) -> dict[str, str]:
        """``{name: built-in name or absolute path}`` for :func:`build_corpora`; relative paths
        are taken from the config file's folder."""
        out = {}
        for d in config.domains:
            if d.path is None:
                out[d.name] = d.name
            else:
                path = Path(d.path).expanduser()
                if not path.is_absolute() and base_dir is not None:
                    path = base_dir / path
                out[d.name] = str(path)
        return out


def metric_names(config: StudyConfig) -> list[str]:
    """The metrics a live trial reports (``ProxyResult.metrics``)."""
    return [*FIXED_METRICS, *(f"val_loss:{d}" for d in config.domain_names)]


def check_metric(config: StudyConfig) -> None:
    """The objective metric must be one a trained proxy reports."""
    known = metric_names(config)
    if config.objective.metric not in known:
        raise ConfigError(f"live trials report {known}; got {config.objective.metric!r}",
                          where="objective.metric")
    spec = config.outcomes()
    if spec is not None:
        from admire.schema.objectives import check_outcome_metrics

        check_outcome_metrics(spec, known, where="config")

"""Typed study configuration, read from TOML and validated up front with errors naming the field.

A study config says what is mixed (domains with optional bounds and repetition limits), what is
optimised (objective metric and direction), on which fidelity ladder, how (strategy) and for how
much (budget in target-run units). The ``[proxy]`` table is passed through to the live trainer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from admire.errors import ConfigError
from admire.schema.ladder import FidelityLadder, ladder_from_dict, load_ladder, read_toml
from admire.space import MixtureSpace

ACQUISITIONS = ("kg", "mes")
SURROGATES = ("icm", "mfgp")
KERNELS = ("rbf", "linear", "linear+rbf")
INPUT_SCALES = ("weights", "range")
KG_TARGETS = ("all", "recommendable")
POLICIES = ("screen-confirm", "kg")
MODES = ("continuous", "pool")
RECOMMEND_FROM = ("observed", "all")
# StrategyConfig fields that take one of a fixed set of values.
STRATEGY_CHOICES = {"acquisition": ACQUISITIONS, "surrogate": SURROGATES, "kernel": KERNELS,
                    "input_scale": INPUT_SCALES, "kg_targets": KG_TARGETS, "policy": POLICIES,
                    "recommend_from": RECOMMEND_FROM}


@dataclass(frozen=True)
class DomainConfig:
    name: str
    lower: float = 0.0
    upper: float = 1.0
    max_epochs: float | None = None
    path: str | None = None  # user data (folder or saved dataset); None = a built-in domain


@dataclass(frozen=True)
class ObjectiveConfig:
    metric: str
    minimize: bool = False


@dataclass(frozen=True)
class StrategyConfig:
    """How proposals are made. Defaults are the configuration that won in replay."""

    initial_trials: int = 1
    acquisition: str = "kg"
    surrogate: str = "icm"
    # Kernel over the weights: "rbf" (ARD RBF) or "linear+rbf" (a linear trend plus an ARD RBF
    # residual; data-mixture effects are close to linear in the weights).
    kernel: str = "rbf"
    # How weights enter the GP: "weights" as they are (a domain whose weight barely moves can
    # barely move the objective, a prior that generalises from few runs), or "range": each
    # rescaled to [0, 1] over the candidates, which gives every domain the same prior reach.
    input_scale: str = "weights"
    # The mixtures the knowledge gradient values: "all" candidate target mixtures, or the
    # "recommendable" ones (with recommend_from = "observed": those run at the target, plus
    # the candidate itself when it is a target run).
    kg_targets: str = "all"
    # "screen-confirm": the proxy share of the budget screens space-filling mixtures at the
    # cheapest rung (in pool mode, mixtures that also have a target row), then target runs
    # confirm the best posterior means not yet run, in order. "kg": every run is chosen by the
    # cost-aware acquisition above. Without proxy_share or a budget there is no switch point,
    # and screen-confirm falls back to "kg".
    policy: str = "screen-confirm"
    cost_intercept: float = 0.0
    caution: float = 0.0  # recommendation maximises mean - caution * sd at the target rung
    # "observed": once the target rung has runs, recommend among the mixtures run there (the
    # GP still smooths their noise); "all": over every candidate mixture.
    recommend_from: str = "observed"
    # Share of the study budget that may go to rungs below the target; once spent, only the
    # target rung is proposed (cheap rungs correlate only moderately with the target, and
    # cost-weighted acquisition alone keeps buying them). None = no cap.
    proxy_share: float | None = 0.1
    seed: int = 0


@dataclass(frozen=True)
class StudyConfig:
    name: str
    domains: tuple[DomainConfig, ...]
    objective: ObjectiveConfig
    ladder: FidelityLadder
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    mode: str = "continuous"
    budget: float | None = None  # in target-rung runs (mean target cost)
    max_trials: int | None = None
    max_parallel: int = 1
    proxy: Mapping[str, Any] = field(default_factory=dict)

    @property
    def domain_names(self) -> list[str]:
        return [d.name for d in self.domains]

    def space(self) -> MixtureSpace:
        return MixtureSpace(tuple(self.domain_names), tuple(d.lower for d in self.domains),
                            tuple(d.upper for d in self.domains))

    def with_strategy(self, **changes: Any) -> StudyConfig:
        return replace(self, strategy=replace(self.strategy, **changes))


def _get(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any = ..., ) -> Any:
    if key not in table:
        if default is ...:
            raise ConfigError(f"missing field {key!r}", where=where)
        return default
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(f"expected {' or '.join(k.__name__ for k in kinds)}, got {value!r}",
                          where=f"{where}.{key}")
    if not isinstance(value, kinds):
        raise ConfigError(f"expected {' or '.join(k.__name__ for k in kinds)}, got {value!r}",
                          where=f"{where}.{key}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"must be finite, got {value!r}", where=f"{where}.{key}")
    return value


def _reject_unknown(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"unknown fields {unknown}; allowed: {sorted(allowed)}", where=where)


def config_from_dict(data: Mapping[str, Any], *, base_dir: Path | None = None,
                     where: str = "config") -> StudyConfig:
    """Build a StudyConfig from parsed TOML; every error names its field."""
    _reject_unknown(data, {"study", "objective", "ladder", "domain", "strategy", "proxy"}, where)
    study = _get(data, "study", dict, where)
    _reject_unknown(study, {"name", "mode", "budget", "max_trials", "max_parallel"},
                    f"{where}: study")
    name = _get(study, "name", str, f"{where}: study")
    mode = _get(study, "mode", str, f"{where}: study", "continuous")
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}",
                          where=f"{where}: study.mode")
    budget = _get(study, "budget", (int, float), f"{where}: study", None)
    if budget is not None and budget <= 0:
        raise ConfigError("budget must be > 0", where=f"{where}: study.budget")
    max_trials = _get(study, "max_trials", int, f"{where}: study", None)
    if max_trials is not None and max_trials <= 0:
        raise ConfigError("max_trials must be > 0", where=f"{where}: study.max_trials")
    if budget is None and max_trials is None:
        raise ConfigError("give a budget or max_trials", where=f"{where}: study")
    max_parallel = _get(study, "max_parallel", int, f"{where}: study", 1)
    if max_parallel <= 0:
        raise ConfigError("max_parallel must be >= 1", where=f"{where}: study.max_parallel")

    objective = _get(data, "objective", dict, where)
    _reject_unknown(objective, {"metric", "minimize"}, f"{where}: objective")
    obj = ObjectiveConfig(_get(objective, "metric", str, f"{where}: objective"),
                          _get(objective, "minimize", bool, f"{where}: objective", False))

    ladder_table = _get(data, "ladder", dict, where)
    if "path" in ladder_table:
        path = Path(_get(ladder_table, "path", str, f"{where}: ladder"))
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        ladder: FidelityLadder = load_ladder(path)
    else:
        ladder = ladder_from_dict(ladder_table, where=f"{where}: ladder")

    raw_domains = _get(data, "domain", list, where)
    domains = []
    for i, item in enumerate(raw_domains):
        dwhere = f"{where}: domain[{i}]"
        if not isinstance(item, dict):
            raise ConfigError("each [[domain]] must be a table", where=dwhere)
        _reject_unknown(item, {"name", "lower", "upper", "max_epochs", "path"}, dwhere)
        max_epochs = _get(item, "max_epochs", (int, float), dwhere, None)
        if max_epochs is not None and max_epochs <= 0:
            raise ConfigError("max_epochs must be > 0", where=f"{dwhere}.max_epochs")
        domains.append(DomainConfig(
            name=_get(item, "name", str, dwhere),
            lower=float(_get(item, "lower", (int, float), dwhere, 0.0)),
            upper=float(_get(item, "upper", (int, float), dwhere, 1.0)),
            max_epochs=None if max_epochs is None else float(max_epochs),
            path=_get(item, "path", str, dwhere, None)))

    strategy_table = _get(data, "strategy", dict, where, {})
    swhere = f"{where}: strategy"
    _reject_unknown(strategy_table, set(StrategyConfig.__dataclass_fields__), swhere)
    defaults = StrategyConfig()
    strategy = StrategyConfig(
        initial_trials=_get(strategy_table, "initial_trials", int, swhere,
                            defaults.initial_trials),
        acquisition=_get(strategy_table, "acquisition", str, swhere, defaults.acquisition),
        surrogate=_get(strategy_table, "surrogate", str, swhere, defaults.surrogate),
        kernel=_get(strategy_table, "kernel", str, swhere, defaults.kernel),
        input_scale=_get(strategy_table, "input_scale", str, swhere, defaults.input_scale),
        kg_targets=_get(strategy_table, "kg_targets", str, swhere, defaults.kg_targets),
        policy=_get(strategy_table, "policy", str, swhere, defaults.policy),
        cost_intercept=float(_get(strategy_table, "cost_intercept", (int, float), swhere,
                                  defaults.cost_intercept)),
        caution=float(_get(strategy_table, "caution", (int, float), swhere, defaults.caution)),
        proxy_share=_get(strategy_table, "proxy_share", (int, float), swhere,
                         defaults.proxy_share),
        recommend_from=_get(strategy_table, "recommend_from", str, swhere,
                            defaults.recommend_from),
        seed=_get(strategy_table, "seed", int, swhere, defaults.seed))
    for field_name, allowed in STRATEGY_CHOICES.items():
        value = getattr(strategy, field_name)
        if value not in allowed:
            raise ConfigError(f"must be one of {allowed}, got {value!r}",
                              where=f"{swhere}.{field_name}")
    if strategy.kernel != "rbf" and strategy.surrogate != "icm":
        raise ConfigError("kernel applies to the icm surrogate only", where=f"{swhere}.kernel")
    if strategy.proxy_share is not None and not 0 <= strategy.proxy_share <= 1:
        raise ConfigError("must be between 0 and 1", where=f"{swhere}.proxy_share")
    if strategy.initial_trials < 0 or strategy.cost_intercept < 0 or strategy.caution < 0:
        raise ConfigError("initial_trials, cost_intercept and caution must be >= 0",
                          where=swhere)

    proxy = _get(data, "proxy", dict, where, {})
    config = StudyConfig(name=name, domains=tuple(domains), objective=obj, ladder=ladder,
                         strategy=strategy, mode=mode,
                         budget=None if budget is None else float(budget),
                         max_trials=max_trials, max_parallel=max_parallel, proxy=proxy)
    config.space()  # bounds that leave no mixture fail here, naming the domain
    return config


def load_config(path: str | Path) -> StudyConfig:
    """Read a study config TOML; relative ladder paths are relative to the config file."""
    path = Path(path)
    return config_from_dict(read_toml(path), base_dir=path.parent, where=str(path))

"""``admire check CONFIG``: validate a live study config without running anything.

The same three parsers ``admire tune`` runs before it starts a cluster (the study config, the
``[proxy]`` table, every rung's trainer spec), so a config that passes here fails in ``tune``
only for reasons no file check can see (data that cannot be read, a cluster that is down).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from admire.errors import ConfigError

if TYPE_CHECKING:
    from admire.app.proxy_settings import ProxySettings
    from admire.schema.config import StudyConfig


@dataclass(frozen=True)
class CheckedConfig:
    path: Path
    config: StudyConfig
    settings: ProxySettings
    trial_tokens: int  # most training tokens one trial draws (the largest rung)


def check_config(path: str | Path) -> CheckedConfig:
    """Parse and cross-check ``path``; raises :class:`ConfigError` naming the field."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("is a folder; give the study's TOML file" if path.is_dir()
                          else "file not found", where=str(path))
    # Imported here: these pull in torch and Ax, which `admire --help` should not wait for.
    from admire.app.proxy_settings import ProxySettings
    from admire.app.tune import trial_tokens
    from admire.schema.config import load_config

    config = load_config(path)
    settings = ProxySettings.from_config(config, where=f"{path}: proxy")
    tokens = trial_tokens(config)
    check_before_start(config, path)
    for name, source in settings.domain_sources(config, path.resolve().parent).items():
        if source != name and not Path(source).exists():
            raise ConfigError(f"data path not found: {source}", where=f"{path}: domain {name!r}")
    if config.warm_start:  # read and map the earlier studies now, not when tune starts
        from admire.study.warm_start import load_prior

        try:
            load_prior(config)
        except ConfigError as exc:
            raise ConfigError(exc.problem, where=f"{path}: {exc.where}") from None
    return CheckedConfig(path, config, settings, tokens)


def check_before_start(config: StudyConfig, path: str | Path) -> None:
    """What a new live study would refuse once started, checked from the file alone (so
    ``admire submit`` can run it before a job, where the data paths are the cluster's): every
    domain without a path is a built-in one (a command-only study names its domains freely),
    and the budget pays for the reference runs trained first."""
    from admire.app.references import check_budget_pays_for_references, reference_count
    from admire.app.tune import proxy_rungs
    from admire.proxy.data.builtin import BUILTIN_DOMAINS

    proxy = bool(proxy_rungs(config))
    for domain in config.domains:
        if proxy and domain.path is None and domain.name not in BUILTIN_DOMAINS:
            raise ConfigError(f"unknown built-in domain {domain.name!r}; built-ins are "
                              f"{list(BUILTIN_DOMAINS)} (or give the domain a path)",
                              where=f"{path}: domain {domain.name!r}")
    check_budget_pays_for_references(config, reference_count(config, proxy),
                                     where=f"{path}: study.budget")


def summary_lines(checked: CheckedConfig) -> list[str]:
    """A short description of the study the config defines."""
    c = checked.config
    target = c.ladder.target
    lines = [f"{checked.path}: valid study {c.name!r} ({c.mode} mode)",
             f"domains ({len(c.domains)}):"]
    for d in c.domains:
        extra = "" if d.max_epochs is None else f", max_epochs {d.max_epochs:g}"
        data = "built-in" if d.path is None else d.path
        lines.append(f"  {d.name}: weight in [{d.lower:g}, {d.upper:g}]{extra} ({data})")
    lines.append(f"rungs ({len(c.ladder.rungs)}, cheapest first; {target.name!r} is the target):")
    for r in c.ladder.rungs:
        lines.append(f"  {r.name}: cost estimate {r.cost_estimate:g}, fidelity {r.fidelity:.4g}")
    better = "lower" if c.objective.minimize else "higher"
    lines.append(f"objective: {c.objective.metric} ({better} is better; "
                 f"{'minimize' if c.objective.minimize else 'maximize'}); trials score "
                 f"{_proxy_objective(checked.settings.objective)}")
    options = ", ".join(f"{k} {v}" for k, v in c.policy.options.model_dump().items())
    lines.append(f"policy: {c.policy.name} ({options or 'no options'}); seed {c.seed}")
    budget = ("none" if c.budget is None else
              f"{c.budget:g} target-rung runs (about {c.budget * target.cost_estimate:g} in "
              "the ladder's cost units)")
    trials = "no limit" if c.max_trials is None else str(c.max_trials)
    lines.append(f"budget: {budget}; max trials {trials}; {c.max_parallel} in parallel")
    lines.append("then, outside the budget: " + (
        f"the recommendation trained at {target.name!r} with {c.confirm_seeds} fresh seed(s)"
        if c.confirm_seeds else "no confirmation (confirm_seeds = 0)"))
    lines.append(f"training tokens per trial at most: {checked.trial_tokens:,}")
    return lines


def _proxy_objective(objective: Mapping[str, Any] | None) -> str:
    if objective and "mean_over" in objective:
        return "the mean validation loss over " + ", ".join(objective["mean_over"])
    if objective and "held_out" in objective:
        return f"the validation loss on the held-out domain {objective['held_out']}"
    return "the mean validation loss over every domain"

"""``admire evaluate DIR``: check a study's answer by retraining mixtures with fresh seeds.

    admire evaluate out/local --mixture recommended --mixture uniform --seeds 3

The study trained every trial with one seed (``[proxy] seed``, common random numbers), so its
recommendation may fit that seed's noise. Here each mixture is trained at a rung (default: the
target) with seeds the study never used, ``seed + 1 .. seed + N``, on Ray like ``admire tune``,
and compared seed by seed. Results go to ``DIR/evaluations.json``
(:mod:`admire.app.evaluations`), never into the study's experiment or budget.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from admire.app.evaluations import (
    Evaluation,
    MixtureResult,
    PairedDifference,
    load_evaluations,
    paired_differences,
    results_for,
    save_evaluations,
    weights_key,
)
from admire.errors import AdmireError, ValidationError
from admire.space import MixtureSpace

KEYWORDS = ("recommended", "uniform", "natural")
SUM_TOL = 0.01  # as the runs table: a JSON mixture within 1% of 1 is renormalised
SPEC_HELP = ("'recommended' (the study's recommendation), 'uniform', 'natural' (proportional "
             "to each domain's train tokens, within the bounds), or a JSON object of weights, "
             "optionally named: 'mine={\"math\": 0.5, \"code\": 0.5}' (domains left out weigh 0)")


@dataclass(frozen=True)
class NamedMixture:
    name: str
    weights: dict[str, float]


# --- mixtures ------------------------------------------------------------------------------------


def uniform_mixture(space: MixtureSpace) -> np.ndarray:
    """1/K each, moved into the domains' bounds where they bind."""
    return space.project(np.full(space.k, 1.0 / space.k))


def natural_mixture(space: MixtureSpace, available: Mapping[str, int]) -> np.ndarray:
    """Token-proportional: each domain's share of the available train tokens, clipped into its
    bounds and renormalised (``space.project``)."""
    tokens = np.array([float(available.get(d, 0)) for d in space.domains])
    if not np.isfinite(tokens).all() or tokens.sum() <= 0:
        raise ValidationError(f"no train tokens to weigh by: {dict(available)}",
                              where="--mixture natural")
    return space.project(tokens / tokens.sum())


def json_mixture(text: str, space: MixtureSpace, where: str) -> np.ndarray:
    """A JSON object of weights, checked against the study's domains and bounds."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not a keyword ({', '.join(KEYWORDS)}) and not valid JSON: "
                              f"{exc.msg} at character {exc.pos}", where=where) from None
    if not isinstance(raw, dict) or not raw:
        raise ValidationError("a JSON mixture must be an object {\"domain\": weight, ...}",
                              where=where)
    unknown = [d for d in raw if d not in space.domains]
    if unknown:
        raise ValidationError(f"unknown domain {unknown[0]!r}; the study has "
                              f"{list(space.domains)}", where=where)
    weights = np.zeros(space.k)
    for i, domain in enumerate(space.domains):
        value = raw.get(domain, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value) or value < 0:
            raise ValidationError(f"weight of {domain!r} must be a number >= 0, got {value!r}",
                                  where=where)
        weights[i] = float(value)
    total = weights.sum()
    if abs(total - 1.0) > SUM_TOL:
        raise ValidationError(f"weights sum to {total:.6g}, not 1 (within {SUM_TOL:g})",
                              where=where)
    weights /= total
    return space.check(weights, where=where, tol=1e-9)


def parse_mixture_spec(spec: str, space: MixtureSpace, *,
                       recommended: Callable[[], Mapping[str, float]] | None = None,
                       available: Callable[[], Mapping[str, int]] | None = None,
                       index: int = 1) -> NamedMixture:
    """One ``--mixture`` value as a named, feasible mixture (see :data:`SPEC_HELP`).
    ``recommended`` and ``available`` are called only when the spec needs them."""
    text = spec.strip()
    where = f"--mixture {spec}"
    if text == "recommended":
        if recommended is None:
            raise ValidationError("this study has no recommendation", where=where)
        weights = space.check(space.from_dict(recommended(), where=where), where=where, tol=1e-6)
        return NamedMixture("recommended", space.as_dict(weights))
    if text == "uniform":
        return NamedMixture("uniform", space.as_dict(uniform_mixture(space)))
    if text == "natural":
        if available is None:
            raise ValidationError("needs the study's corpora", where=where)
        return NamedMixture("natural", space.as_dict(natural_mixture(space, available())))
    name, body = f"custom-{index}", text
    if not text.startswith("{") and "=" in text:
        name, body = (part.strip() for part in text.split("=", 1))
        if name in KEYWORDS or not name:
            raise ValidationError(f"a custom mixture's name must not be empty or one of "
                                  f"{list(KEYWORDS)}", where=where)
    elif not text.startswith("{"):
        raise ValidationError(f"unknown mixture {text!r}; expected {SPEC_HELP}", where=where)
    return NamedMixture(name, space.as_dict(json_mixture(body, space, where)))


# --- running -----------------------------------------------------------------------------------


@dataclass
class EvaluateResult:
    study: str
    metric: str
    minimize: bool
    rung: str
    target: bool
    study_seed: int
    seeds: list[int]
    mixtures: list[NamedMixture]
    results: list[MixtureResult]
    differences: list[PairedDifference]
    trained: int
    reused: int
    failures: list[str]
    wall_s: float
    path: Path


def study_seeds(study_seed: int, n: int) -> list[int]:
    """The N fresh training seeds: the study's ``[proxy] seed`` + 1 .. + N."""
    if n < 1:
        raise ValidationError(f"must be >= 1, got {n}", where="--seeds")
    return [study_seed + i for i in range(1, n + 1)]


def evaluate(directory: str | Path, specs: Sequence[str], n_seeds: int, *,
             rung: str | None = None, address: str | None = None,
             on_result: Callable[[str], None] | None = None) -> EvaluateResult:
    """Train every (mixture, seed) pair not yet in ``evaluations.json``; return the comparison.

    Uses an already initialised Ray session if there is one (and leaves it running), else
    connects to ``address``, else starts an embedded cluster on 127.0.0.1.
    """
    from admire.app.proxy_settings import ProxySettings
    from admire.app.tune import build_study_corpora
    from admire.study import Study

    t0 = time.monotonic()
    directory = Path(directory)
    if not specs:
        raise ValidationError("give at least one mixture", where="--mixture")
    study = Study.load(directory)
    config = study.config
    settings = ProxySettings.from_config(config, where=f"{directory}: proxy")
    try:
        level = study.ladder.rung(rung) if rung else study.ladder.target
    except AdmireError as exc:
        raise ValidationError(str(exc), where="--rung") from None
    seeds = study_seeds(settings.seed, n_seeds)
    corpora_cache: list = []

    def corpora():  # built once, and only when something needs them
        if not corpora_cache:
            corpora_cache.append(build_study_corpora(config, settings))
        return corpora_cache[0]

    mixtures = [parse_mixture_spec(spec, study.space,
                                   recommended=(lambda: study.recommend().mixture)
                                   if study.n_completed else None,
                                   available=lambda: corpora()[0].available_tokens(), index=i)
                for i, spec in enumerate(specs, start=1)]
    mixtures = list({m.name: m for m in mixtures}.values())  # a name given twice: once
    done = {e.key for e in load_evaluations(directory)}
    todo: dict[tuple, tuple[NamedMixture, int]] = {}
    for mixture in mixtures:
        for seed in seeds:
            key = (weights_key(mixture.weights), level.name, seed)
            if key not in done and key not in todo:
                todo[key] = (mixture, seed)
    reused = len(mixtures) * len(seeds) - len(todo)
    failures: list[str] = []
    if todo:
        failures = _train(study, settings, corpora(), list(todo.values()), level.name, directory,
                          address, on_result)
    saved = load_evaluations(directory)
    results = results_for(saved, [(m.name, m.weights) for m in mixtures], level.name, seeds)
    if len(study.runs):
        from admire.app.study_plots import PLOTS, plot_objective_vs_cost

        plot_objective_vs_cost(study, directory / PLOTS[0],
                               study.recommend() if study.n_completed else None)
    return EvaluateResult(config.name, study.metric, config.objective.minimize, level.name,
                          level.name == study.ladder.target.name, settings.seed, seeds,
                          mixtures, results,
                          paired_differences(results, config.objective.minimize),
                          len(todo) - len(failures), reused, failures, time.monotonic() - t0,
                          directory / "evaluations.json")


def _train(study, settings, built, jobs: list[tuple[NamedMixture, int]], rung: str,
           directory: Path, address: str | None, on_result: Callable[[str], None] | None
           ) -> list[str]:
    """Train ``jobs`` on a Ray actor pool; save each result as it arrives. Returns failures."""
    import torch

    from admire.evaluators.ray.connect import connect, disconnect
    from admire.evaluators.ray.pool import RayProxyPool
    from admire.evaluators.ray.worker import CorporaSource, TrialRequest

    corpora, sources = built
    config = study.config
    level = study.ladder.rung(rung)
    max_epochs = {d.name: d.max_epochs for d in config.domains}
    failures: list[str] = []
    connection = connect(address)
    try:
        torch.set_num_threads(1)  # the actors hold the cores
        source = CorporaSource.of(corpora, sources, settings.corpus, settings.cache_dir)
        with RayProxyPool(source, study.ladder, config.max_parallel) as pool:
            pending = list(enumerate(jobs))
            finished = 0
            while finished < len(jobs):
                while pending and pool.free > 0:
                    i, (mixture, seed) = pending.pop(0)
                    pool.submit(TrialRequest(i, dict(mixture.weights), level, seed,
                                             settings.objective, max_epochs))
                for outcome in pool.wait(timeout=1.0):
                    finished += 1
                    mixture, seed = jobs[outcome.trial_index]
                    value = (outcome.metrics or {}).get(study.metric, math.nan)
                    if not outcome.ok or not math.isfinite(value):
                        reason = outcome.error or f"{study.metric} is {value}"
                        failures.append(f"{mixture.name} seed {seed}: {reason}")
                        message = f"{mixture.name} seed {seed} FAILED: {reason}"
                    else:
                        record = Evaluation(
                            mixture.name, dict(mixture.weights), rung, seed, float(value),
                            float(outcome.cost), study.budget.units(float(outcome.cost)),
                            datetime.now(UTC).isoformat(timespec="seconds"),
                            {k: float(v) for k, v in (outcome.metrics or {}).items()})
                        save_evaluations(directory, [record], study=config.name,
                                         metric=study.metric,
                                         minimize=config.objective.minimize)
                        message = (f"{mixture.name} seed {seed}: {study.metric} {value:.5g} "
                                   f"({outcome.cost:.1f}s)")
                    if on_result is not None:
                        on_result(message)
    finally:
        disconnect(connection)
    return failures


# --- what the command prints ---------------------------------------------------------------------


def _mixture_text(weights: Mapping[str, float], top: int = 4) -> str:
    ranked = sorted(weights.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{d} {w:.2f}" for d, w in ranked[:top] if w > 0.005)
    return shown + (", ..." if sum(w > 0.005 for _, w in ranked) > top else "")


def _num(value: float, signed: bool = False) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def header_lines(result: EvaluateResult) -> list[str]:
    rung = f"{result.rung} ({'the target rung' if result.target else 'not the target'})"
    seeds = ", ".join(str(s) for s in result.seeds)
    return [f"{result.study}: {len(result.mixtures)} mixture(s) at {rung}, training seeds "
            f"{seeds}: the study trained every trial with seed {result.study_seed} ([proxy] "
            "seed), so these are new to it",
            f"trained {result.trained} run(s), {result.reused} already in evaluations.json, "
            f"{len(result.failures)} failed; {result.wall_s:.0f}s"]


def report(result: EvaluateResult) -> list[Any]:
    """What ``admire evaluate`` prints: the lines and rich tables, in order."""
    from rich.table import Table

    better = "lower" if result.minimize else "higher"
    out: list[Any] = header_lines(result)
    values = Table(title=f"{result.metric} at {result.rung} ({better} is better), per training "
                         "seed", title_justify="left")
    for column in ("mixture", "weights", *(f"seed {s}" for s in result.seeds), "mean", "sd"):
        values.add_column(column, justify="left" if column in ("mixture", "weights") else "right")
    for r in result.results:
        values.add_row(r.name, _mixture_text(r.weights),
                       *(_num(r.values[s]) if s in r.values else "-" for s in result.seeds),
                       _num(r.mean), _num(r.sd))
    out.append(values)
    if result.differences:
        first = result.differences[0].first
        diffs = Table(title=f"paired difference to {first} (mixture - {first}, same seed; "
                            f"{better} is better)", title_justify="left")
        for column in ("mixture", *(f"seed {s}" for s in result.seeds), "mean", "sd",
                       f"better than {first}", "margin > seed sd"):
            diffs.add_column(column, justify="left" if column == "mixture" else "right")
        for d in result.differences:
            exceeds = {None: "n/a (1 seed)", True: "yes", False: "no"}[d.exceeds_spread]
            diffs.add_row(d.name, *(_num(d.diffs[s], True) if s in d.diffs else "-"
                                    for s in result.seeds),
                          _num(d.mean, True), _num(d.sd), f"{d.better_on}/{len(d.diffs)} seeds",
                          exceeds)
        out.append(diffs)
        out += [verdict(d) for d in result.differences]
    out += [f"failed: {f}" for f in result.failures]
    out.append(f"wrote {result.path} (not part of the study's experiment or budget)")
    return out


def verdict(d: PairedDifference) -> str:
    """One sentence: who won, on how many seeds, and whether it is more than seed noise."""
    n = len(d.diffs)
    if n == 0:
        return f"{d.name} vs {d.first}: no seed in common"
    first_wins = n - d.better_on
    leader, wins = (d.first, first_wins) if first_wins >= d.better_on else (d.name, d.better_on)
    spread = ("one seed: no spread to compare with" if d.exceeds_spread is None else
              f"{'more' if d.exceeds_spread else 'less'} than the seed-to-seed sd of the "
              f"difference ({d.sd:.3g})")
    return (f"{d.name} vs {d.first}: {leader} better on {wins}/{n} seeds, mean margin "
            f"{abs(d.mean):.4g} ({spread})")

"""``admire evaluate DIR``: check a study's answer by retraining mixtures with fresh seeds.

    admire evaluate out/local --mixture recommended --mixture uniform --seeds 3 [--rung r0]

The study trained every trial with one seed (``[proxy] seed``), so its recommendation may fit
that seed's noise. Here each mixture is trained at a rung (default: the target) with seeds the
study never used, ``seed + 1 .. seed + N``, with the study's own proxy settings on the Ray actor
pool ``admire tune`` uses, and compared seed by seed. Results are added to
``DIR/evaluations.json`` (:mod:`admire.app.evaluations`), never to the study's experiment or
budget. At the target the fresh runs check the study's 90% interval for a new run twice: the
model's (another run with the study's seed), and that interval widened by the seed spread
measured on the other mixtures' replicates (a run with any seed).

A mixture is ``recommended``, ``uniform``, ``natural`` or any reference of the study by name,
``domain=weight,...``, a JSON object ``{"domain": weight}`` or a JSON file holding one (or a
``recommendation.json``); ``NAME:`` in front names it. Domains left out weigh 0.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from admire.app.confirm import fresh_seeds, study_value
from admire.app.evaluations import (
    ANY_SEED_INTERVAL,
    Evaluation,
    IntervalCheck,
    MixtureResult,
    PairedDifference,
    any_seed_checks,
    coverage_line,
    grouped,
    interval_checks,
    load_evaluations,
    paired_differences,
    record_interval_checks,
    results_for,
    save_evaluations,
    weights_key,
)
from admire.errors import ValidationError
from admire.evaluators.ray.worker import WorkFn, train_trial
from admire.space import MixtureSpace

SUM_TOL = 1e-3  # weights within this of 1 are renormalised; further off is an error
NAMED = re.compile(r"([A-Za-z0-9_.-]+):(.+)")


@dataclass(frozen=True)
class NamedMixture:
    name: str
    weights: dict[str, float]


# --- mixtures ------------------------------------------------------------------------------------


def weights_from(raw: Any, space: MixtureSpace, where: str) -> np.ndarray:
    """``{"domain": weight}`` checked against the study: known domains, numbers >= 0 summing to
    1 (within :data:`SUM_TOL`), inside the domains' bounds. Domains left out weigh 0."""
    if not isinstance(raw, Mapping) or not raw:
        raise ValidationError("a mixture must map domains to weights", where=where)
    unknown = [d for d in raw if d not in space.domains]
    if unknown:
        raise ValidationError(f"unknown domain {unknown[0]!r}; the study's domains are "
                              f"{', '.join(space.domains)}", where=where)
    weights = np.zeros(space.k)
    for i, domain in enumerate(space.domains):
        value = raw.get(domain, 0.0)
        try:
            weights[i] = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            weights[i] = math.nan
        if not math.isfinite(weights[i]) or weights[i] < 0:
            raise ValidationError(f"weight of {domain!r} must be a number >= 0, got {value!r}",
                                  where=where)
    total = float(weights.sum())
    if abs(total - 1.0) > SUM_TOL:
        raise ValidationError(f"weights sum to {total:.6g}, not 1", where=where)
    return space.check(weights / total, where=where)


def parse_pairs(text: str, where: str) -> dict[str, str]:
    """``math=0.5, code=0.5`` as a dict (values checked by :func:`weights_from`)."""
    out = {}
    for part in (p.strip() for p in text.split(",")):
        domain, eq, value = part.partition("=")
        if not eq or not domain.strip():
            raise ValidationError(f"expected domain=weight, got {part!r}", where=where)
        out[domain.strip()] = value.strip()
    return out


def json_file_mixture(path: Path, where: str) -> Any:
    """The weights in a JSON file: the object itself, its ``mixture``, or a
    ``recommendation.json``'s recommended mixture."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"cannot read a JSON mixture: {exc}", where=where) from None
    if isinstance(raw, Mapping) and isinstance(raw.get("recommendation"), Mapping):
        raw = raw["recommendation"]
    if isinstance(raw, Mapping) and isinstance(raw.get("mixture"), Mapping):
        raw = raw["mixture"]
    return raw


def parse_mixture(spec: str, study: Any, *, recommended: Callable[[], Mapping[str, float]],
                  tokens: Callable[[], Mapping[str, int]], index: int = 1) -> NamedMixture:
    """One ``--mixture`` value as a named, feasible mixture (see the module docstring).
    ``recommended`` and ``tokens`` are called only when the spec needs them."""
    from admire.app.references import natural_mixture, uniform_mixture

    space, where = study.space, f"--mixture {spec}"
    text = spec.strip()
    name = None
    named = NAMED.fullmatch(text)
    if named and not Path(text).is_file():
        name, text = named.group(1), named.group(2).strip()
    references = study.references()
    if text == "recommended":
        if not study.n_completed:
            raise ValidationError("the study has no completed trial: nothing is recommended",
                                  where=where)
        weights = space.check(space.from_dict(recommended(), where=where), where=where,
                              tol=1e-6)
    elif text in references:  # uniform, natural or the user's, exactly as the study ran it
        weights = space.from_dict(study.proposal_of(references[text]).mixture, where=where)
    elif text == "uniform":
        weights = uniform_mixture(study.config)
    elif text == "natural":
        weights = natural_mixture(study.config, tokens())
    elif text.startswith("{"):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"not valid JSON: {exc.msg} at character {exc.pos}",
                                  where=where) from None
        weights = weights_from(raw, space, where)
    elif "=" in text:
        weights = weights_from(parse_pairs(text, where), space, where)
    elif Path(text).is_file():
        weights = weights_from(json_file_mixture(Path(text), where), space, where)
        name = name or Path(text).stem
    else:
        known = ", ".join(dict.fromkeys(["recommended", "uniform", "natural", *references]))
        raise ValidationError(f"unknown mixture {text!r}: expected {known}, domain=weight,... "
                              "or a JSON file", where=where)
    default = text if re.fullmatch(r"[A-Za-z0-9_.-]+", text) else f"mixture-{index}"
    return NamedMixture(name or default, space.as_dict(weights))


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
    results: list[MixtureResult]
    differences: list[PairedDifference]
    trained: int
    reused: int
    failures: list[str]
    wall_s: float
    path: Path
    interval_checks: list[IntervalCheck]
    any_seed_checks: list[IntervalCheck]
    interval_note: str | None = None  # why there is no interval to check (admire.bo.reach)


def evaluate(directory: str | Path, specs: Sequence[str], n_seeds: int, *,
             rung: str | None = None, address: str | None = None,
             on_result: Callable[[str], None] | None = None,
             work: WorkFn = train_trial, first_seed: int | None = None) -> EvaluateResult:
    """Train every (mixture, seed) pair not yet in ``evaluations.json``; return the comparison.

    Seeds are the study's seed + 1 .. + ``n_seeds`` (``first_seed``: from there, e.g. past the
    ones ``admire tune`` confirmed its recommendation with, for a held-out check). Every input
    is checked before anything is built or started. Uses an already initialised Ray
    session if there is one (and leaves it running), else connects to ``address``, else starts
    an embedded cluster on 127.0.0.1.
    """
    from admire.app.proxy_settings import ProxySettings
    from admire.app.tune import build_study_corpora
    from admire.study import Study

    t0 = time.monotonic()
    directory = Path(directory)
    if not specs:
        raise ValidationError("give at least one mixture", where="--mixture")
    if n_seeds < 1:
        raise ValidationError(f"must be >= 1, got {n_seeds}", where="--seeds")
    study = Study.load(directory)
    config = study.config
    settings = ProxySettings.from_config(config, where=f"{directory}: proxy")
    try:
        level = study.ladder.rung(rung) if rung else study.ladder.target
    except ValidationError as exc:
        raise ValidationError(exc.problem, where="--rung") from None
    seeds = (fresh_seeds(settings.seed, n_seeds) if first_seed is None
             else list(range(first_seed, first_seed + n_seeds)))
    cache: dict[str, Any] = {}

    def once(key: str, make: Callable[[], Any]) -> Any:  # corpora and the GP fit only if needed
        if key not in cache:
            cache[key] = make()
        return cache[key]

    corpora = lambda: once("corpora", lambda: build_study_corpora(config, settings))  # noqa: E731
    rec = lambda: once("rec", study.recommend)  # noqa: E731
    mixtures = [parse_mixture(spec, study, recommended=lambda: rec().mixture,
                              tokens=lambda: corpora()[0].available_tokens(), index=i)
                for i, spec in enumerate(specs, start=1)]
    mixtures = list({m.name: m for m in mixtures}.values())  # a name given twice: once
    done = {e.key for e in load_evaluations(directory)}
    todo = {(weights_key(m.weights), level.name, s): (m, s) for m in mixtures for s in seeds}
    todo = {k: v for k, v in todo.items() if k not in done}
    failures: list[str] = []
    if todo:
        failures = _train(study, settings, corpora(), list(todo.values()), level.name,
                          directory, address, on_result, work)
    results = results_for(load_evaluations(directory), [(m.name, m.weights) for m in mixtures],
                          level.name, seeds)
    checks = (interval_checks(results, lambda w: study.predict(
        np.array([w[d] for d in study.space.domains])))
        if level.name == study.ladder.target.name and study.n_completed else [])
    seed_checks = any_seed_checks(checks, results, target_replicates(
        directory, study, settings.seed)) if checks else []
    note = None  # a model policy's prediction with its intervals withheld says why
    if level.name == study.ladder.target.name and study.n_completed and not checks and results:
        probe = study.predict(np.array([results[0].weights[d] for d in study.space.domains]))
        note = probe.interval_note if probe is not None and probe.run_lower90 is None else None
    record_interval_checks(directory, checks, seed_checks)
    if len(study.runs):
        from admire.app.study_plots import PLOTS, plot_objective_vs_cost

        plot_objective_vs_cost(study, directory / PLOTS[0],
                               rec() if study.n_completed else None, study_seed=settings.seed)
    return EvaluateResult(config.name, study.metric, config.objective.minimize, level.name,
                          level.name == study.ladder.target.name, settings.seed, seeds, results,
                          paired_differences(results, config.objective.minimize),
                          len(todo) - len(failures), len(mixtures) * len(seeds) - len(todo),
                          failures, time.monotonic() - t0, directory / "evaluations.json",
                          checks, seed_checks, note)


def target_replicates(directory: Path, study: Any, study_seed: int
                      ) -> dict[tuple[float, ...], list[float]]:
    """Every mixture's runs at the target: its fresh seeds in ``evaluations.json`` and the
    study's own run (seed ``study_seed``), where it has one: what the seed spread is
    measured on."""
    from admire.schema import runs

    target = study.ladder.target.name
    column = runs.METRIC_PREFIX + study.metric
    out = {}
    for r in grouped(load_evaluations(directory)):
        if r.rung == target:
            values = {s: v for s, v in r.values.items() if s != study_seed}
            own = study_value(study.runs, column, target, r.weights)
            out[weights_key(r.weights)] = [*values.values(), *([] if own is None else [own])]
    return out


def _train(study: Any, settings: Any, built: tuple, jobs: list[tuple[NamedMixture, int]],
           rung: str, directory: Path, address: str | None,
           on_result: Callable[[str], None] | None, work: WorkFn) -> list[str]:
    """Train ``jobs`` on tune's Ray actor pool (started here); returns the failures."""
    import torch

    from admire.evaluators.ray.connect import connect, disconnect
    from admire.evaluators.ray.pool import RayProxyPool
    from admire.evaluators.ray.worker import CorporaSource

    corpora, sources = built
    connection = connect(address)
    try:
        torch.set_num_threads(1)  # the actors hold the cores
        source = CorporaSource.of(corpora, sources, settings.corpus, settings.cache_dir)
        with RayProxyPool(source, study.ladder, study.config.max_parallel, work=work) as pool:
            return train_on_pool(pool, study, settings, jobs, rung, directory, on_result,
                                 trials_dir=directory / "trials")
    finally:
        disconnect(connection)


def train_on_pool(pool: Any, study: Any, settings: Any, jobs: list[tuple[NamedMixture, int]],
                  rung: str, directory: Path, on_result: Callable[[str], None] | None, *,
                  trials_dir: Path | None = None, first_index: int = 0) -> list[str]:
    """Train ``jobs`` (mixture, seed) at ``rung`` on a running actor pool (``admire tune``'s
    own, for its confirmation); save each result to ``evaluations.json`` as it arrives.
    A command rung's runs get folders under ``trials_dir``; requests are numbered from
    ``first_index`` (past the study's trials on its pool). Returns the failures."""
    import os

    from admire.evaluators.ray.worker import TrialRequest

    level = study.ladder.rung(rung)
    max_epochs = {d.name: d.max_epochs for d in study.config.domains}
    failures: list[str] = []
    pending = list(enumerate(jobs, start=first_index))
    finished = 0
    while finished < len(jobs):
        while pending and pool.free > 0:
            i, (mixture, seed) = pending.pop(0)
            out_dir = (None if trials_dir is None else
                       str(Path(trials_dir).resolve() / f"evaluate-{rung}-seed{seed}-{i:03d}"))
            pool.submit(TrialRequest(i, dict(mixture.weights), level, seed,
                                     settings.objective, max_epochs, out_dir=out_dir,
                                     metric=study.metric, cwd=os.getcwd()))
        for outcome in pool.wait(timeout=1.0):
            finished += 1
            mixture, seed = jobs[outcome.trial_index - first_index]
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
                save_evaluations(directory, [record], study=study.config.name,
                                 metric=study.metric,
                                 minimize=study.config.objective.minimize)
                message = (f"{mixture.name} seed {seed}: {study.metric} {value:.5g} "
                           f"({outcome.cost:.1f}s charged)")
            if on_result is not None:
                on_result(message)
    return failures


# --- what the command prints ---------------------------------------------------------------------


def _num(value: float, signed: bool = False) -> str:
    return "-" if math.isnan(value) else f"{value:+.4f}" if signed else f"{value:.4f}"


def report(result: EvaluateResult) -> list[Any]:
    """What ``admire evaluate`` prints: lines and a rich table, in order."""
    from rich.table import Table

    better = "lower" if result.minimize else "higher"
    where = f"{result.rung} ({'the target' if result.target else 'not the target'})"
    out: list[Any] = [
        f"{result.study}: {len(result.results)} mixture(s) at {where}, fresh seeds "
        f"{', '.join(map(str, result.seeds))} (the study trained with seed {result.study_seed});"
        f" trained {result.trained}, {result.reused} already in evaluations.json, "
        f"{len(result.failures)} failed; {result.wall_s:.0f}s"]
    values = Table(title=f"{result.metric} at {result.rung} ({better} is better)",
                   title_justify="left")
    for column in ("mixture", *(f"seed {s}" for s in result.seeds), "mean ± sd"):
        values.add_column(column, justify="left" if column == "mixture" else "right")
    for r in result.results:
        values.add_row(r.name, *(_num(r.values[s]) if s in r.values else "-"
                                 for s in result.seeds), mean_sd(r))
    out.append(values)
    out += [f"{r.name}: {result.metric} {mean_sd(r)} over {len(r.values)} seed(s)"
            for r in result.results]
    out += [verdict(d) for d in result.differences]
    for coverage in (coverage_line(result.interval_checks),
                     coverage_line(result.any_seed_checks, ANY_SEED_INTERVAL)):
        if coverage:
            out.append(coverage)
    if result.interval_note:
        out.append(result.interval_note)
    out += [f"failed: {f}" for f in result.failures]
    out.append(f"wrote {result.path} (not part of the study's experiment or budget)")
    return out


def mean_sd(r: MixtureResult) -> str:
    if len(r.values) == 1:  # no spread from one seed
        return f"{r.mean:.4f} (one seed)"
    return "-" if not r.values else f"{r.mean:.4f} ± {_num(r.sd)}"


def verdict(d: PairedDifference) -> str:
    """One sentence: who won, on how many seeds, and whether it is more than seed noise."""
    n = len(d.diffs)
    if n == 0:
        return f"{d.name} vs {d.first}: no seed in common"
    first_wins = n - d.better_on
    leader, wins = (d.first, first_wins) if first_wins >= d.better_on else (d.name, d.better_on)
    who = (f"{leader} better on {wins}/{n} seeds" if wins * 2 != n
           else f"each better on {wins}/{n} seeds")
    spread = ("one seed: no spread to compare with" if d.exceeds_spread is None else
              f"{'more' if d.exceeds_spread else 'less'} than the seed-to-seed sd of the "
              f"difference ({d.sd:.3g})")
    return (f"{d.name} vs {d.first}: {who}, mean margin "
            f"{abs(d.mean):.4g} ({spread})")

"""Live tuning: the Study proposes, Ray actors train proxies, results flow back as they arrive.

    result = tune("examples/local-cpu.toml", "out/local")          # or --resume, --address

The driver builds the corpora once, turns the repetition limits into per-domain weight upper
bounds (so the policy never proposes a mixture the sampler would refuse), and runs the study
through the one loop with Ray actors as the evaluator: ``max_parallel`` trials in flight,
proposals aware of the running ones, the study saved after every start and every result (each
file atomically), so a crash loses at most the trials in flight. ``resume`` reloads the study,
applies a changed budget or policy everywhere at once, and re-runs, once, the trials that were
running when the process died. Once the loop stops, the recommendation is trained at the target
with ``[study] confirm_seeds`` fresh seeds on the same actor pool (:mod:`admire.app.confirm`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from ax.core.trial_status import TrialStatus
from rich.console import Console

from admire.app.confirm import Confirmation, confirmation_of, fresh_seeds
from admire.app.evaluate import NamedMixture, train_on_pool
from admire.app.evaluations import load_evaluations, weights_key
from admire.app.proxy_settings import ProxySettings
from admire.app.references import (
    check_budget_pays_for_references,
    reference_count,
    reference_mixtures,
    reference_results,
    study_references,
)
from admire.app.study_plots import write_plots, write_recommendation
from admire.app.view import TuneView, recommendation_text
from admire.bo.policies.base import Recommendation
from admire.errors import ConfigError, ValidationError
from admire.evaluators.ray.connect import connect, disconnect
from admire.evaluators.ray.pool import RayEvaluator, RayProxyPool, StartHook
from admire.evaluators.ray.worker import CorporaSource, WorkFn, train_trial
from admire.proxy.corpora import Corpora, build_corpora
from admire.proxy.sampler import weight_upper_bounds
from admire.proxy.train import ProxySpec
from admire.schema import runs
from admire.schema.command import is_command_rung
from admire.schema.config import StudyConfig, load_config, proxy_seed
from admire.schema.ladder import Rung
from admire.study import Study
from admire.study.loop import Event, resume_running, run

TRIALS_DIR = "trials"  # command rungs' trial folders, under the study directory


@dataclass
class TuneResult:
    out: Path
    study: Study
    recommendation: Recommendation | None
    stop_reason: str
    wall_s: float
    seed_noise: str  # what the new-run interval holds, or the confirmation's (seed_noise_note)
    confirmation: Confirmation | None = None  # fresh-seed target runs of the recommendation


# --------------------------------------------------------------------------------------------
# Preparing the study
# --------------------------------------------------------------------------------------------


def absolute_paths(config: StudyConfig, base_dir: Path) -> StudyConfig:
    """User-domain paths made absolute (relative ones are from the config file's folder), so
    the saved study resumes from anywhere."""
    domains = []
    for d in config.domains:
        if d.path is not None and not Path(d.path).expanduser().is_absolute():
            d = d.model_copy(update={"path": str((base_dir / d.path).resolve())})
        domains.append(d)
    return replace(config, domains=tuple(domains))


def proxy_rungs(config: StudyConfig) -> list[Rung]:
    """The rungs admire's proxy trains (the others name a command of their own)."""
    return [r for r in config.ladder.rungs if not is_command_rung(r.spec)]


def trial_tokens(config: StudyConfig) -> int:
    """Most training tokens any proxy rung draws (normally the target's; 0 with none); every
    proxy rung's spec is parsed here, so a bad rung fails before a cluster starts, with its
    field named."""
    return max((ProxySpec.from_rung(r).train.tokens for r in proxy_rungs(config)), default=0)


def command_only_settings(config: StudyConfig) -> ProxySettings:
    """A ladder of command rungs only: no corpora, no proxy objective; ``[proxy]`` may give
    the seed passed to the commands as {seed}."""
    table = dict(config.proxy)
    unknown = sorted(set(table) - {"seed"})
    if unknown:
        raise ConfigError(f"every rung runs a command, so only seed applies; got {unknown}",
                          where="proxy")
    return ProxySettings(seed=proxy_seed(config))


def with_repetition_bounds(config: StudyConfig, available: Mapping[str, int]) -> StudyConfig:
    """Tighten each domain's upper bound to what its ``max_epochs`` allows at the largest
    rung's token budget (``weight_upper_bounds``), so every proposal is trainable."""
    tokens = trial_tokens(config)
    limits = {d.name: d.max_epochs for d in config.domains}
    bounds = weight_upper_bounds(available, tokens, limits)
    domains = []
    for d in config.domains:
        upper = min(d.upper, bounds[d.name])
        if upper < d.lower:
            raise ConfigError(f"max_epochs {d.max_epochs:g} allows a weight of at most "
                              f"{bounds[d.name]:.4g} ({available[d.name]:,} train tokens, "
                              f"{tokens:,} per trial), below its lower bound {d.lower:g}",
                              where=f"domain {d.name!r}")
        domains.append(d.model_copy(update={"upper": upper}))
    total = sum(d.upper for d in domains)
    if total < 1.0 - 1e-9:
        detail = ", ".join(f"{d.name} <= {d.upper:.3g}" for d in domains)
        raise ConfigError(f"repetition limits leave no mixture: upper bounds ({detail}) sum to "
                          f"{total:.4g} < 1 at {tokens:,} tokens per trial; add data, raise "
                          "max_epochs or lower the rungs' train.tokens", where="domains")
    return replace(config, domains=tuple(domains))


def build_study_corpora(config: StudyConfig, settings: ProxySettings) -> tuple[Corpora,
                                                                                dict[str, str]]:
    sources = settings.domain_sources(config)
    return build_corpora(sources, settings.corpus, cache_dir=settings.cache_dir), sources


def prepare_study(config_path: Path, out: Path, resume: bool, console: Console
                  ) -> tuple[Study, ProxySettings, Corpora | None, dict[str, str]]:
    """Load and check the config, build the corpora (none when every rung runs a command),
    and create or reload the study."""
    given = absolute_paths(load_config(config_path), config_path.resolve().parent)
    proxy = bool(proxy_rungs(given))
    settings = ProxySettings.from_config(given) if proxy else command_only_settings(given)
    trial_tokens(given)
    saved = (out / "study.json").exists()
    if resume and not saved:
        raise ValidationError("no saved study to resume (study.json missing)", where=str(out))
    if not resume and saved:
        raise ValidationError("already holds a study: pass --resume to continue it, or choose "
                              "another --out", where=str(out))
    corpora, sources, config, tokens = None, {}, given, None
    if not resume:
        check_budget_pays_for_references(given, reference_count(given, proxy),
                                         where=f"{config_path}: study.budget")
    if proxy:
        try:
            corpora, sources = build_study_corpora(given, settings)
        except ConfigError as exc:  # a domain's source: name the file it came from
            raise ConfigError(exc.problem, where=f"{config_path}: {exc.where}") from None
        tokens = corpora.available_tokens()
        config = with_repetition_bounds(given, tokens)
    elif given.references is None:  # no token counts, so no natural mixture
        config = replace(given, references=study_references(given, proxy=False))
    if not resume:
        study = Study(config)
        target = config.ladder.target.name
        for name, weights in reference_mixtures(config, tokens).items():
            study.attach(weights, target, reference=name)
        return study, settings, corpora, sources
    study = Study.load(out)
    changed = study.reconfigure(config)
    if changed:
        console.print(f"resumed with changed {', '.join(changed)}: applied to the whole study",
                      highlight=False)
    return study, settings, corpora, sources


# --------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------


class LiveHooks:
    """What the loop's events mean live: save the study, log a line, redraw the panel."""

    def __init__(self, study: Study, pool: RayProxyPool, out: Path, view: TuneView) -> None:
        self.study, self.pool, self.out, self.view = study, pool, out, view
        self.recommendation: Recommendation | None = None
        self.refresh()

    def refresh(self) -> None:
        """The current answer; a warm-started study has one before its first result."""
        if self.study.n_completed or self.study.prior is not None:
            self.recommendation = self.study.recommend()

    def __call__(self, event: Event) -> None:
        proposal = event.proposal
        if event.kind in ("started", "restarted") and proposal is not None:
            self.study.save(self.out)  # a crash from here on re-runs this trial on --resume
            verb = "started" if event.kind == "started" else "re-run after restart"
            self.view.event(f"trial {proposal.trial_index} {verb} at {proposal.rung}: "
                            f"{_mixture(proposal.mixture)}")
        elif event.kind == "recorded" and event.outcome is not None:
            outcome = event.outcome
            if event.failure is not None:
                self.view.event(f"trial {outcome.trial_index} FAILED after {outcome.attempts} "
                                f"attempt(s): {event.failure}")
            else:
                value = (outcome.metrics or {}).get(self.study.metric, float("nan"))
                units = self.study.budget.units(outcome.cost)
                self.view.event(f"trial {outcome.trial_index} done: {self.study.metric} "
                                f"{value:.4g}, cost {units:.2f} target runs "
                                f"({outcome.cost:.1f}s charged)")
            self.study.save(self.out)
            self.refresh()
        self.view.update(self.pool.in_flight(), self.recommendation)


def _mixture(mixture: Mapping[str, float]) -> str:
    return ", ".join(f"{d} {w:.2f}" for d, w in mixture.items())


def tune(config_path: str | Path, out: str | Path, *, resume: bool = False,
         address: str | None = None, console: Console | None = None,
         work: WorkFn = train_trial, on_start: StartHook | None = None) -> TuneResult:
    """Run (or resume) a live study; write the study, recommendation.json and plots to ``out``.

    Uses an already initialised Ray session if there is one (and leaves it running), else
    connects to ``address`` / ``RAY_ADDRESS``, else starts an embedded local cluster.
    """
    t0 = time.monotonic()
    console = console or Console()
    out = Path(out)
    study, settings, corpora, sources = prepare_study(Path(config_path), out, resume, console)
    out.mkdir(parents=True, exist_ok=True)
    connection = connect(address)
    stop = "interrupted"
    rec: Recommendation | None = None
    confirmed: Confirmation | None = None
    try:
        import torch

        torch.set_num_threads(1)  # actors hold the cores (locally, or the head's); the GP is small
        source = (None if corpora is None else
                  CorporaSource.of(corpora, sources, settings.corpus, settings.cache_dir))
        max_epochs = {d.name: d.max_epochs for d in study.config.domains}
        with (RayProxyPool(source, study.ladder, study.config.max_parallel, work=work,
                           on_start=on_start) as pool,
              TuneView(console, study) as view):
            reruns, failed = resume_running(study) if resume else ([], [])
            for index in failed:
                view.event(f"trial {index} failed: interrupted twice")
            # A new study's reference mixtures were attached, not yet started.
            attached = [] if resume else study.trials_by_status(TrialStatus.RUNNING)
            study.save(out)
            evaluator = RayEvaluator(pool, study.ladder, settings.seed, settings.objective,
                                     max_epochs, trials_dir=out / TRIALS_DIR,
                                     metric=study.metric)
            try:
                stop = run(study, evaluator, reruns=reruns, attached=attached,
                           on_event=LiveHooks(study, pool, out, view))
                rec = study.recommend() if study.n_completed else None
                if rec is not None and study.config.confirm_seeds:
                    view.event(f"confirming the recommendation at {study.ladder.target.name} "
                               f"with {study.config.confirm_seeds} fresh seed(s)")
                    confirmed = confirm(study, settings, pool, rec, out, view.event)
            except KeyboardInterrupt:
                study.save(out)
                console.print(f"interrupted: the study is saved; continue with --resume "
                              f"(--out {out})")
                raise
    finally:
        disconnect(connection)
    wall = time.monotonic() - t0
    seed_noise = seed_noise_note(settings.seed, out, confirmed)
    write_recommendation(study, rec, out, {"stop_reason": stop, "wall_s": wall,
                                           "ray_address": connection.address,
                                           "references": reference_results(study),
                                           "trial_seed": settings.seed,
                                           "seed_noise": seed_noise,
                                           "confirmation": None if confirmed is None
                                           else confirmed.to_dict()})
    write_plots(study, rec, out, settings.seed)
    return TuneResult(out, study, rec, stop, wall, seed_noise, confirmed)


def confirm(study: Study, settings: ProxySettings, pool: RayProxyPool, rec: Recommendation,
            out: Path, say: Callable[[str], None]) -> Confirmation | None:
    """Train the recommended mixture at the target with ``[study] confirm_seeds`` fresh seeds
    on the study's own actor pool (a resumed study trains only the seeds not yet in
    ``evaluations.json``); None when no fresh run succeeded."""
    target = study.ladder.target.name
    seeds = fresh_seeds(settings.seed, study.config.confirm_seeds)
    mixture = NamedMixture("recommended", dict(rec.mixture))
    done = {e.key for e in load_evaluations(out)}
    key = weights_key(mixture.weights)
    jobs = [(mixture, s) for s in seeds if (key, target, s) not in done]
    for failure in train_on_pool(pool, study, settings, jobs, target, out, say,
                                 trials_dir=out / TRIALS_DIR,
                                 first_index=len(study.experiment.trials)):
        say(f"confirmation run failed: {failure}")
    return confirmation_of(out, study, rec.mixture, settings.seed)


def seed_noise_note(seed: int, out: str | Path, confirmed: Confirmation | None = None) -> str:
    """What the model's new-run interval holds: every trial trains with one seed (common random
    numbers, so mixtures are compared on the same noise), so the model never sees the spread
    between seeds; the confirmation's interval does (:mod:`admire.app.confirm`)."""
    interval = None if confirmed is None else confirmed.run_interval()
    if confirmed is None or interval is None:
        return (f"every trial trained with seed {seed}: the new-run interval holds the model's "
                f"noise, not the spread between seeds; measure that with "
                f"`admire evaluate {out} --mixture recommended --seeds 3`")
    values = ", ".join(f"{confirmed.values[s]:.4g} (seed {s})" for s in confirmed.values)
    return (f"confirmed at {confirmed.rung}: {values}; mean {confirmed.mean:.4g}, seed sd "
            f"{confirmed.sd:.2g}; one new run with any seed: [{interval[0]:.4g}, "
            f"{interval[1]:.4g}] (90%, Student t over these {confirmed.n} runs). The model's "
            f"interval above is for another seed-{seed} run")


def summary_lines(result: TuneResult) -> list[str]:
    """What ``admire tune`` prints at the end."""
    study = result.study
    table = study.runs
    failed = int((table[runs.STATUS] == runs.FAILED).sum()) if len(table) else 0
    lines = [f"stopped: {result.stop_reason}",
             f"{study.n_completed} trials completed, {failed} failed, "
             f"{study.spent():.2f} target-rung runs spent, {result.wall_s:.0f}s wall",
             "recommendation: " + recommendation_text(result.recommendation)]
    if result.recommendation is not None:
        if result.recommendation.run_lower90 is not None or result.confirmation is not None:
            lines.append(result.seed_noise)
        if result.recommendation.interval_note:
            lines.append(result.recommendation.interval_note)
        lines.append(pd.Series(result.recommendation.mixture).round(4).to_string())
    for ref in reference_results(study):
        value = "not run" if ref["value"] is None else f"{study.metric} {ref['value']:.4g}"
        lines.append(f"reference {ref['name']} at {study.ladder.target.name}: {value} "
                     f"(trial {ref['trial']})")
    lines.append(f"wrote {result.out}/runs.parquet, recommendation.json and plots")
    return lines

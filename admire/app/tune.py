"""Live tuning: the Study proposes, Ray actors train proxies, results flow back as they arrive.

    result = tune("examples/local-cpu.toml", "out/local")          # or --resume, --address

The driver builds the corpora once, turns the repetition limits into per-domain weight upper
bounds (so the strategy never proposes a mixture the sampler would refuse), keeps
``max_parallel`` trials in flight (proposals are aware of the running ones), and after every
result completes or fails its trial and saves the study (each file atomically), so a crash loses
at most the trials in flight. ``resume`` reloads the study and re-runs, once, the trials that were
running when the process died. The loop stops at the budget (target-rung runs, counting the
expected cost of trials in flight) or at ``max_trials``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from ax.core.trial_status import TrialStatus
from rich.console import Console

from admire.app.proxy_settings import ProxySettings
from admire.app.study_plots import write_plots, write_recommendation
from admire.app.view import TuneView, recommendation_text
from admire.errors import ConfigError, ValidationError
from admire.evaluators.base import Outcome
from admire.evaluators.ray.connect import connect, disconnect
from admire.evaluators.ray.pool import RayProxyPool, StartHook
from admire.evaluators.ray.worker import CorporaSource, TrialRequest, WorkFn, train_trial
from admire.proxy.corpora import Corpora, build_corpora
from admire.proxy.sampler import weight_upper_bounds
from admire.proxy.train import ProxySpec
from admire.schema import runs
from admire.schema.config import StudyConfig, load_config
from admire.study import Proposal, Study, StudyRecommendation

RERUN_KEY = "admire_rerun_after_restart"
FAILURE_STREAK = 4  # this many failures in a row (and no success between) stops proposing
WAIT_S = 0.5  # how often the loop wakes to redraw while trials run


@dataclass(frozen=True)
class Limits:
    """When to stop proposing. ``budget`` is in target-rung runs."""

    budget: float | None
    max_trials: int | None
    max_parallel: int

    @classmethod
    def of(cls, config: StudyConfig) -> Limits:
        return cls(config.budget, config.max_trials, config.max_parallel)


@dataclass
class TuneResult:
    out: Path
    study: Study
    recommendation: StudyRecommendation | None
    stop_reason: str
    wall_s: float


# --------------------------------------------------------------------------------------------
# Preparing the study
# --------------------------------------------------------------------------------------------


def absolute_paths(config: StudyConfig, base_dir: Path) -> StudyConfig:
    """User-domain paths made absolute (relative ones are from the config file's folder), so
    the saved study resumes from anywhere."""
    domains = []
    for d in config.domains:
        if d.path is not None and not Path(d.path).expanduser().is_absolute():
            d = replace(d, path=str((base_dir / d.path).resolve()))
        domains.append(d)
    return replace(config, domains=tuple(domains))


def trial_tokens(config: StudyConfig) -> int:
    """Most training tokens any rung draws (normally the target's); every rung's spec is
    parsed here, so a bad rung fails before a cluster starts, with its field named."""
    return max(ProxySpec.from_rung(r).train.tokens for r in config.ladder.rungs)


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
        domains.append(replace(d, upper=upper))
    total = sum(d.upper for d in domains)
    if total < 1.0 - 1e-9:
        detail = ", ".join(f"{d.name} <= {d.upper:.3g}" for d in domains)
        raise ConfigError(f"repetition limits leave no mixture: upper bounds ({detail}) sum to "
                          f"{total:.4g} < 1 at {tokens:,} tokens per trial; add data, raise "
                          "max_epochs or lower the rungs' train.tokens", where="domains")
    return replace(config, domains=tuple(domains))


def check_resumable(saved: StudyConfig, given: StudyConfig) -> None:
    """A resumed study keeps its saved definition; only the limits may change."""
    checks = {"domains": ([d.name for d in saved.domains], [d.name for d in given.domains]),
              "objective": (saved.objective, given.objective),
              "ladder": (saved.ladder.names, given.ladder.names),
              "proxy": (dict(saved.proxy), dict(given.proxy))}
    for name, (a, b) in checks.items():
        if a != b:
            raise ConfigError(f"differs from the saved study ({a!r} there, {b!r} here); resume "
                              "with the same config or start a new --out", where=name)


def build_study_corpora(config: StudyConfig, settings: ProxySettings) -> tuple[Corpora,
                                                                                dict[str, str]]:
    sources = settings.domain_sources(config)
    return build_corpora(sources, settings.corpus, cache_dir=settings.cache_dir), sources


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


class LiveLoop:
    """Keeps the pool full, records results, saves after each; returns why it stopped."""

    def __init__(self, study: Study, pool: RayProxyPool, settings: ProxySettings,
                 limits: Limits, out: Path, view: TuneView) -> None:
        self.study, self.pool, self.settings = study, pool, settings
        self.limits, self.out, self.view = limits, out, view
        self.max_epochs = {d.name: d.max_epochs for d in study.config.domains}
        self.streak = 0
        self.last_failure = ""
        self.recommendation: StudyRecommendation | None = None

    def run(self, reruns: list[int]) -> str:
        queue = list(reruns)
        self._refresh_recommendation()
        while True:
            reason = self._fill(queue)
            if not self.pool.in_flight():
                return reason or "nothing left to propose"
            for outcome in self.pool.wait(timeout=WAIT_S):
                self._record(outcome)
            self.view.update(self.pool.in_flight(), self.recommendation)

    # --- proposing -----------------------------------------------------------------------------

    def _fill(self, queue: list[int]) -> str | None:
        while self.pool.free > 0:
            if queue:
                index = queue.pop(0)
                self._dispatch(self.study.proposal_of(index), "re-run after restart")
                continue
            reason = self.stop_reason()
            if reason:
                return reason
            proposals = self.study.propose(1)
            if not proposals:
                return "the strategy proposed nothing"
            self.study.save(self.out)  # a crash from here on re-runs this trial on --resume
            self._dispatch(proposals[0], "started")
        return None

    def stop_reason(self) -> str | None:
        n = len(self.study.experiment.trials)
        if self.limits.max_trials is not None and n >= self.limits.max_trials:
            return f"max_trials reached ({n})"
        if self.streak >= FAILURE_STREAK:
            return f"{self.streak} trials failed in a row; last: {self.last_failure}"
        if self.limits.budget is not None:
            spent = self.study.spent()
            committed = sum(self.expected_cost(f.request.rung.name)
                            for f in self.pool.in_flight())
            if spent + committed >= self.limits.budget:
                return f"budget reached ({self.limits.budget:g} target-rung runs)"
        return None

    def expected_cost(self, rung: str) -> float:
        """Expected cost of one run of ``rung`` in target-rung runs: its observed mean when it
        has completed runs, else the ladder's estimate relative to the target's."""
        table = self.study.runs
        if len(table):
            done = table[(table[runs.RUNG] == rung) & (table[runs.STATUS] == runs.COMPLETED)]
            if len(done):
                return float(done[runs.COST].mean()) / self.study.cost_unit()
        ladder = self.study.ladder
        return ladder.rung(rung).cost_estimate / ladder.target.cost_estimate

    def _dispatch(self, proposal: Proposal, verb: str) -> None:
        request = TrialRequest(proposal.trial_index, dict(proposal.mixture),
                               self.study.ladder.rung(proposal.rung), self.settings.seed,
                               self.settings.objective, self.max_epochs)
        self.pool.submit(request)
        self.view.event(f"trial {proposal.trial_index} {verb} at {proposal.rung}: "
                        f"{_mixture(proposal.mixture)}")

    # --- recording -----------------------------------------------------------------------------

    def _record(self, outcome: Outcome) -> None:
        index = outcome.trial_index
        reason = outcome.error
        if outcome.ok:
            assert outcome.metrics is not None
            try:
                self.study.complete(index, outcome.metrics, outcome.cost, seed=outcome.seed)
            except ValidationError as exc:  # NaN/inf metric or cost: never given to the model
                reason = exc.problem
        if reason is not None:
            self.study.fail(index, reason, cost=outcome.cost)
            self.streak += 1
            self.last_failure = reason
            self.view.event(f"trial {index} FAILED after {outcome.attempts} attempt(s): "
                            f"{reason}")
        else:
            self.streak = 0
            value = outcome.metrics[self.study.metric] if outcome.metrics else float("nan")
            self.view.event(f"trial {index} done: {self.study.metric} {value:.4g}, "
                            f"{outcome.cost:.1f}s")
        self.study.save(self.out)
        self._refresh_recommendation()

    def _refresh_recommendation(self) -> None:
        if self.study.n_completed:
            self.recommendation = self.study.recommend()


def _mixture(mixture: Mapping[str, float]) -> str:
    return ", ".join(f"{d} {w:.2f}" for d, w in mixture.items())


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _restart_reruns(study: Study, view: TuneView) -> list[int]:
    """Trials running when the last process died: each is re-run once, then failed."""
    reruns = []
    for index in study.trials_by_status(TrialStatus.RUNNING):
        trial = study.experiment.trials[index]
        if trial.run_metadata.get(RERUN_KEY):
            study.fail(index, "interrupted twice: already re-run once after a restart")
            view.event(f"trial {index} failed: interrupted twice")
        else:
            trial.update_run_metadata({RERUN_KEY: True})
            reruns.append(index)
    return reruns


def tune(config_path: str | Path, out: str | Path, *, resume: bool = False,
         address: str | None = None, console: Console | None = None,
         work: WorkFn = train_trial, on_start: StartHook | None = None) -> TuneResult:
    """Run (or resume) a live study; write the study, recommendation.json and plots to ``out``.

    Uses an already initialised Ray session if there is one (and leaves it running), else
    connects to ``address`` / ``RAY_ADDRESS``, else starts an embedded local cluster.
    """
    t0 = time.monotonic()
    console = console or Console()
    warnings.filterwarnings("ignore", message="Sparse invariant checks")  # GPyTorch, harmless
    config_path = Path(config_path)
    given = absolute_paths(load_config(config_path), config_path.resolve().parent)
    settings = ProxySettings.from_config(given)
    trial_tokens(given)
    out = Path(out)
    if resume:
        if not (out / "study.json").exists():
            raise ValidationError("no saved study to resume (study.json missing)",
                                  where=str(out))
        study = Study.load(out)
        check_resumable(study.config, given)
    elif (out / "study.json").exists():
        raise ValidationError("already holds a study: pass --resume to continue it, or choose "
                              "another --out", where=str(out))
    corpora, sources = build_study_corpora(given, settings)
    if not resume:
        study = Study(with_repetition_bounds(given, corpora.available_tokens()))
    limits = Limits.of(given)
    out.mkdir(parents=True, exist_ok=True)
    connection = connect(address)
    stop = "interrupted"
    try:
        import torch

        torch.set_num_threads(1)  # actors hold the cores (locally, or the head's); the GP is small
        source = CorporaSource.of(corpora, sources, settings.corpus, settings.cache_dir)
        with (RayProxyPool(source, study.ladder, limits.max_parallel, work=work,
                           on_start=on_start) as pool,
              TuneView(console, study, limits.budget, limits.max_trials) as view):
            reruns = _restart_reruns(study, view) if resume else []
            study.save(out)
            loop = LiveLoop(study, pool, settings, limits, out, view)
            try:
                stop = loop.run(reruns)
            except KeyboardInterrupt:
                study.save(out)
                console.print(f"interrupted: the study is saved; continue with --resume "
                              f"(--out {out})")
                raise
    finally:
        disconnect(connection)
    rec = study.recommend() if study.n_completed else None
    wall = time.monotonic() - t0
    write_recommendation(study, rec, out, {"stop_reason": stop, "wall_s": wall,
                                           "ray_address": connection.address})
    write_plots(study, rec, out)
    return TuneResult(out, study, rec, stop, wall)


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
        lines.append(pd.Series(result.recommendation.mixture).round(4).to_string())
    lines.append(f"wrote {result.out}/runs.parquet, recommendation.json and plots")
    return lines


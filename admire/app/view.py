"""Live progress of ``admire tune``: trials in flight, results per rung, spend, recommendation.

On a terminal it is a rich ``Live`` panel redrawn in place; elsewhere (a Ray job's log, CI) it
prints one line per event, since a redrawn panel would flood a log file.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from admire.bo.policies.base import Recommendation
from admire.evaluators.ray.pool import InFlight
from admire.schema import runs
from admire.study import Study


def mixture_text(mixture: dict[str, float], top: int = 4) -> str:
    ranked = sorted(mixture.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{d} {w:.2f}" for d, w in ranked[:top])
    return shown + (", ..." if len(ranked) > top else "")


def interval_text(rec: Recommendation) -> str:
    if rec.lower90 is None or rec.upper90 is None:
        return ""
    text = f" (mean [{rec.lower90:.4g}, {rec.upper90:.4g}]"
    if rec.run_lower90 is not None and rec.run_upper90 is not None:
        text += f", one new run [{rec.run_lower90:.4g}, {rec.run_upper90:.4g}]"
    return text + ")"


def recommendation_text(rec: Recommendation | None) -> str:
    if rec is None:
        return "no recommendation yet"
    return (f"{mixture_text(rec.mixture)}  predicted {rec.predicted:.4g}{_run_interval(rec)} "
            f"at {rec.rung} ({rec.n_observations} observations)")


def _run_interval(rec: Recommendation) -> str:
    """The one interval a one-line summary has room for: a new run's, else the mean's."""
    if rec.run_lower90 is not None and rec.run_upper90 is not None:
        return f" (a new run: [{rec.run_lower90:.4g}, {rec.run_upper90:.4g}], 90%)"
    if rec.lower90 is not None and rec.upper90 is not None:
        return f" (the mean: [{rec.lower90:.4g}, {rec.upper90:.4g}], 90%)"
    if rec.reach is not None and not rec.reach.calibrated:
        return f" (no 90% interval yet: {rec.reach.target_runs} target-rung run(s) so far)"
    return ""


class TuneView:
    """Render the study's state; ``update`` redraws, ``event`` logs a line above the panel."""

    def __init__(self, console: Console, study: Study) -> None:
        self.console, self.study = console, study
        self.t0 = time.monotonic()
        self._live: Live | None = None

    def __enter__(self) -> TuneView:
        if self.console.is_terminal:
            self._live = Live(console=self.console, refresh_per_second=2, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def event(self, text: str) -> None:
        elapsed = time.monotonic() - self.t0
        line = f"[{elapsed:6.0f}s] {text}"
        (self._live.console if self._live is not None else self.console).print(
            line, highlight=False, markup=False)

    def update(self, flights: Sequence[InFlight], rec: Recommendation | None) -> None:
        if self._live is not None:
            self._live.update(self.render(flights, rec))

    def header(self) -> str:
        spent, limits = self.study.spent(), self.study.budget
        budget = f" / {limits.total:g}" if limits.total is not None else ""
        trials = len(self.study.experiment.trials)
        cap = f" / {limits.max_trials}" if limits.max_trials is not None else ""
        return (f"{self.study.config.name}: spent {spent:.2f}{budget} target runs, "
                f"trials {trials}{cap}, {time.monotonic() - self.t0:.0f}s")

    def render(self, flights: Sequence[InFlight], rec: Recommendation | None) -> Group:
        running = Table("trial", "rung", "attempt", "running", title="in flight",
                        title_justify="left")
        now = time.monotonic()
        for f in flights:
            running.add_row(str(f.request.trial_index), f.request.rung.name, str(f.attempt),
                            f"{now - f.started:.0f}s")
        table = self.study.runs
        column = runs.METRIC_PREFIX + self.study.metric
        minimize = self.study.config.objective.minimize
        per_rung = Table("rung", "completed", "failed", "mean cost s", "best " + self.study.metric,
                         title="finished", title_justify="left")
        for rung in self.study.ladder.rungs:
            rows = table[table[runs.RUNG] == rung.name] if len(table) else table
            done = rows[rows[runs.STATUS] == runs.COMPLETED] if len(rows) else rows
            best = "-"
            if len(done) and column in done and done[column].notna().any():
                best = f"{(done[column].min() if minimize else done[column].max()):.4g}"
            mean_cost = f"{done[runs.COST].mean():.1f}" if len(done) else "-"
            per_rung.add_row(rung.name, str(len(done)), str(len(rows) - len(done)), mean_cost,
                             best)
        return Group(Text(self.header(), style="bold"), running, per_rung,
                     Text("recommendation: " + recommendation_text(rec)))

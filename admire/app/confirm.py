"""The recommendation confirmed with fresh seeds: the interval a new run with any seed falls in.

A live study trains every trial with one seed (common random numbers: mixtures are compared on
the same noise), so its model never sees the spread between seeds, and its "new run" interval
is one for another run with that seed. Fresh seeds then land outside it (bench/results/
tune_default.md). Once the budget is spent, ``admire tune`` trains the recommended mixture at the
target with ``[study] confirm_seeds`` seeds the study never used (the seeds ``admire evaluate``
uses, recorded in the same ``evaluations.json``, outside the experiment and the budget). With
the study's own run there, if it has one, that is n runs of one mixture; the interval for one
more run with any seed is Student's t prediction interval,

    mean +- t(0.95, n - 1) * sd * sqrt(1 + 1/n),

exact for normal seed noise whatever its size, with no model in it: 90% of new runs fall inside.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from admire.schema import runs
from admire.space import mixture_key

LEVEL = 0.90  # two-sided, like every interval admire reports


@dataclass(frozen=True)
class Confirmation:
    """One mixture's runs at one rung, seed -> value; ``study_seed`` marks the study's own run
    (None: the study never ran this mixture there)."""

    rung: str
    values: dict[int, float]
    study_seed: int | None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values.values()) if self.values else math.nan

    @property
    def sd(self) -> float:
        return statistics.stdev(self.values.values()) if self.n > 1 else math.nan

    def run_interval(self) -> tuple[float, float] | None:
        """90% prediction interval for one new run with any seed (None below two runs)."""
        return run_interval(list(self.values.values()))

    def to_dict(self) -> dict[str, Any]:
        interval = self.run_interval()
        return {"rung": self.rung, "seeds": sorted(self.values),
                "values": {str(s): v for s, v in sorted(self.values.items())},
                "study_seed": self.study_seed, "mean": self.mean,
                "sd": None if self.n < 2 else self.sd,
                "run_lower90": None if interval is None else interval[0],
                "run_upper90": None if interval is None else interval[1],
                "interval": "90% for one new run with any seed: Student t over these runs "
                            "(n - 1 degrees of freedom), no model in it"}


def run_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """Student t's 90% prediction interval for one more run of a mixture, from its runs with
    different seeds (None below two)."""
    n = len(values)
    if n < 2:
        return None
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = float(stats.t.ppf(0.5 + LEVEL / 2, n - 1)) * sd * math.sqrt(1 + 1 / n)
    return mean - half, mean + half


def pooled_seed_sd(groups: Iterable[Sequence[float]]) -> tuple[float, int] | None:
    """The spread between seeds of one mixture, pooled over every mixture with two runs or
    more (each about its own mean, so mixtures' levels do not count), with its degrees of
    freedom; None without a replicate."""
    squares, df = 0.0, 0
    for values in groups:
        if len(values) > 1:
            mean = statistics.fmean(values)
            squares += sum((v - mean) ** 2 for v in values)
            df += len(values) - 1
    return (math.sqrt(squares / df), df) if df else None


def with_seed_noise(lower: float, upper: float, seed_sd: float, df: int
                    ) -> tuple[float, float]:
    """The model's 90% interval for another run with the study's seed, widened to one for a
    run with any seed: the model's variance plus the measured seed variance (a fresh seed's
    noise is independent of the study seed's, which the model partly learned as signal).
    Student t's quantile with Welch-Satterthwaite's degrees of freedom: only the seed part is
    estimated, on ``df``."""
    centre, model_sd = (lower + upper) / 2, (upper - lower) / (2 * stats.norm.ppf(0.5 + LEVEL / 2))
    variance = model_sd ** 2 + seed_sd ** 2
    effective_df = math.inf if seed_sd == 0 else variance ** 2 / (seed_sd ** 4 / df)
    half = float(stats.t.ppf(0.5 + LEVEL / 2, effective_df)) * math.sqrt(variance)
    return centre - half, centre + half


def fresh_seeds(study_seed: int, n: int) -> list[int]:
    """The seeds a check trains with: ones the study never used (``admire evaluate``'s too)."""
    return [study_seed + i for i in range(1, n + 1)]


def study_value(table: Any, metric_column: str, rung: str, weights: Mapping[str, float]
                ) -> float | None:
    """The study's own completed run of exactly this mixture at ``rung`` (its first), if any."""
    if not len(table):
        return None
    done = table[(table[runs.RUNG] == rung) & (table[runs.STATUS] == runs.COMPLETED)]
    order = [c[len(runs.WEIGHT_PREFIX):] for c in runs.weight_columns(table)]
    key = mixture_key(np.array([weights.get(d, 0.0) for d in order]))
    same = done[[k == key for k in runs.mixture_keys(done)]] if len(done) else done
    return float(same[metric_column].iloc[0]) if len(same) else None


def confirmation(rung: str, fresh: Mapping[int, float], study_seed: int,
                 own: float | None) -> Confirmation:
    """The runs a confirmation has: the fresh seeds' and the study's own, if it ran the mixture."""
    values = dict(fresh)
    if own is not None:
        values[study_seed] = own
    return Confirmation(rung, dict(sorted(values.items())),
                        study_seed if own is not None else None)


def confirmation_of(directory: str | Path, study: Any, mixture: Mapping[str, float],
                    study_seed: int) -> Confirmation | None:
    """Every run of ``mixture`` at the target: the fresh seeds in ``evaluations.json`` (the
    tune's confirmation and ``admire evaluate``'s) and the study's own run; None without a
    fresh one."""
    from admire.app.evaluations import load_evaluations, weights_key

    target = study.ladder.target.name
    key = weights_key(mixture)
    fresh = {e.seed: e.value for e in load_evaluations(directory)
             if e.key[:2] == (key, target) and e.seed != study_seed}
    if not fresh:
        return None
    own = study_value(study.runs, runs.METRIC_PREFIX + study.metric, target, mixture)
    return confirmation(target, fresh, study_seed, own)

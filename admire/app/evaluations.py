"""``evaluations.json``: mixtures retrained after a study, with seeds the study never used.

Kept beside the study, never in it: these runs are a check of the answer, so they enter
neither the Ax experiment nor the budget. One record per (mixture, rung, seed); the mixture is
matched by its weights (:func:`admire.space.mixture_key`), so a mixture evaluated under two
names is trained once per seed, and re-running with more seeds adds only the missing pairs.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from admire.errors import ValidationError
from admire.io import atomic_write_json
from admire.space import mixture_key

EVALUATIONS_FILE = "evaluations.json"
Key = tuple[tuple[float, ...], str, int]  # (mixture key, rung, seed)


def weights_key(weights: Mapping[str, float]) -> tuple[float, ...]:
    """The mixture's key, independent of the order its domains are listed in."""
    return mixture_key(np.array([weights[d] for d in sorted(weights)], dtype=float))


@dataclass(frozen=True)
class Evaluation:
    """One retrained run: ``value`` is the study's objective metric, ``cost`` what the run cost
    in the runs table's unit (live: CPU seconds on a CPU, wall seconds on a GPU), ``cost_units``
    the same in target runs."""

    name: str
    weights: dict[str, float]
    rung: str
    seed: int
    value: float
    cost: float
    cost_units: float
    when: str
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> Key:
        return weights_key(self.weights), self.rung, self.seed

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> Evaluation:
        if not isinstance(raw, Mapping):
            raise ValidationError("each evaluation must be an object", where=where)
        try:
            return cls(str(raw["name"]), {str(k): float(v) for k, v in raw["weights"].items()},
                       str(raw["rung"]), int(raw["seed"]), float(raw["value"]),
                       float(raw["cost"]), float(raw.get("cost_units", math.nan)),
                       str(raw.get("when", "")),
                       {str(k): float(v) for k, v in raw.get("metrics", {}).items()})
        except KeyError as exc:
            raise ValidationError(f"missing field {exc.args[0]!r}", where=where) from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValidationError(f"bad value: {exc}", where=where) from None


def load_evaluations(directory: str | Path) -> list[Evaluation]:
    """The evaluations saved in ``directory`` ([] when there is no file)."""
    path = Path(directory) / EVALUATIONS_FILE
    if not path.exists():
        return []
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not valid JSON: {exc}", where=str(path)) from None
    items = payload.get("evaluations") if isinstance(payload, Mapping) else None
    if not isinstance(items, list):
        raise ValidationError("expected an object with an 'evaluations' list", where=str(path))
    return [Evaluation.from_dict(item, f"{path}: evaluations[{i}]")
            for i, item in enumerate(items)]


def save_evaluations(directory: str | Path, evaluations: Iterable[Evaluation], *,
                     study: str, metric: str, minimize: bool) -> Path:
    """Add ``evaluations`` to the file (re-read first; a (mixture, rung, seed) already there is
    kept as it was), atomically."""
    kept = load_evaluations(directory)
    seen = {e.key for e in kept}
    for evaluation in evaluations:
        if evaluation.key not in seen:
            kept.append(evaluation)
            seen.add(evaluation.key)
    payload = {"study": study, "metric": metric, "minimize": minimize,
               "note": "retrained after the study with seeds it did not use; not part of its "
                       "Ax experiment or budget",
               "evaluations": [asdict(e) for e in kept]}
    return atomic_write_json(Path(directory) / EVALUATIONS_FILE, payload, indent=1)


# --- statistics ---------------------------------------------------------------------------------


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.fmean(values) if values else math.nan


def _sd(values: Iterable[float]) -> float:
    """Sample sd; NaN below two values."""
    values = list(values)
    return statistics.stdev(values) if len(values) > 1 else math.nan


@dataclass(frozen=True)
class MixtureResult:
    """One mixture's values at one rung, per seed (seed -> value), with their mean and sd."""

    name: str
    weights: dict[str, float]
    rung: str
    values: dict[int, float]

    @property
    def mean(self) -> float:
        return _mean(self.values.values())

    @property
    def sd(self) -> float:
        return _sd(self.values.values())


@dataclass(frozen=True)
class PairedDifference:
    """``other - first`` on the seeds both were trained with."""

    name: str
    first: str
    diffs: dict[int, float]
    minimize: bool

    @property
    def mean(self) -> float:
        return _mean(self.diffs.values())

    @property
    def sd(self) -> float:
        return _sd(self.diffs.values())

    @property
    def better_on(self) -> int:
        """Seeds on which ``name`` beat ``first`` (in the objective's direction)."""
        return sum((d < 0) if self.minimize else (d > 0) for d in self.diffs.values())

    @property
    def exceeds_spread(self) -> bool | None:
        """Whether the mean margin is larger than the seed-to-seed spread of the paired
        differences (None with fewer than two seeds: no spread to compare with)."""
        return None if math.isnan(self.sd) else abs(self.mean) > self.sd


def results_for(evaluations: Sequence[Evaluation], mixtures: Sequence[tuple[str, Mapping[
        str, float]]], rung: str, seeds: Sequence[int]) -> list[MixtureResult]:
    """Each named mixture's values at ``rung`` on ``seeds`` (those evaluated so far)."""
    by_key = {e.key: e for e in evaluations}
    out = []
    for name, weights in mixtures:
        mixture = weights_key(weights)
        values = {s: by_key[(mixture, rung, s)].value for s in seeds
                  if (mixture, rung, s) in by_key}
        out.append(MixtureResult(name, dict(weights), rung, values))
    return out


def paired_differences(results: Sequence[MixtureResult], minimize: bool
                       ) -> list[PairedDifference]:
    """Every mixture after the first against the first, seed by seed."""
    if len(results) < 2:
        return []
    first = results[0]
    return [PairedDifference(r.name, first.name,
                             {s: r.values[s] - first.values[s] for s in r.values
                              if s in first.values}, minimize)
            for r in results[1:]]


def grouped(evaluations: Sequence[Evaluation]) -> list[MixtureResult]:
    """Every (mixture, rung) in the file with all its seeds, named by its latest record."""
    groups: dict[tuple[tuple[float, ...], str], list[Evaluation]] = {}
    for e in evaluations:
        groups.setdefault((weights_key(e.weights), e.rung), []).append(e)
    return [MixtureResult(items[-1].name, items[-1].weights, rung,
                          {e.seed: e.value for e in items})
            for (_, rung), items in groups.items()]


@dataclass(frozen=True)
class IntervalCheck:
    """Live calibration: fresh-seed runs of one mixture against the study's 90% interval for
    one new run there (``run_lower90``/``run_upper90`` of :meth:`Study.predict`)."""

    name: str
    lower: float
    upper: float
    values: tuple[float, ...]
    extrapolates: bool = False  # beyond the distance the study checked its intervals at

    @property
    def inside(self) -> int:
        return sum(bool(self.lower <= v <= self.upper) for v in self.values)  # a JSON int


def interval_checks(results: Sequence[MixtureResult],
                    predict: Callable[[Mapping[str, float]], Any]) -> list[IntervalCheck]:
    """One check per mixture with runs; ``predict(weights)`` gives its prediction (None or no
    run interval: skipped)."""
    checks = []
    for r in results:
        prediction = predict(r.weights) if r.values else None
        if prediction is None or prediction.run_lower90 is None:
            continue
        reach = getattr(prediction, "reach", None)
        checks.append(IntervalCheck(r.name, prediction.run_lower90, prediction.run_upper90,
                                    tuple(r.values.values()),
                                    bool(reach is not None and reach.extrapolates)))
    return checks


def any_seed_checks(checks: Sequence[IntervalCheck], results: Sequence[MixtureResult],
                    replicates: Mapping[tuple[float, ...], Sequence[float]]
                    ) -> list[IntervalCheck]:
    """Each check's interval widened to one for a run with any seed, by the seed sd pooled
    over the *other* mixtures' runs at the rung (``replicates``: mixture key -> values), so no
    run is checked against a spread measured on itself; a check with no such replicate is
    left out."""
    from admire.app.confirm import pooled_seed_sd, with_seed_noise

    key_of = {r.name: weights_key(r.weights) for r in results}
    out = []
    for c in checks:
        pooled = pooled_seed_sd(v for k, v in replicates.items() if k != key_of[c.name])
        if pooled is not None:
            out.append(IntervalCheck(c.name, *with_seed_noise(c.lower, c.upper, *pooled),
                                     c.values, c.extrapolates))
    return out


MODEL_INTERVAL = "the study's 90% intervals for a new run"
ANY_SEED_INTERVAL = ("the same widened by the seed spread measured on the other mixtures' "
                     "replicates (a new run with any seed)")


def coverage_line(checks: Sequence[IntervalCheck], what: str = MODEL_INTERVAL) -> str | None:
    """One sentence: how many fresh runs fell inside the 90% intervals ``what`` names."""
    total = sum(len(c.values) for c in checks)
    if not total:
        return None
    inside = sum(c.inside for c in checks)
    parts = ", ".join(f"{c.name} {c.inside}/{len(c.values)} in [{c.lower:.4g}, {c.upper:.4g}]"
                      + (" (extrapolation)" if c.extrapolates else "") for c in checks)
    beyond = ("; an extrapolation lies farther from every target run than the study checked "
              "its intervals at, where they hold less than 90%"
              if any(c.extrapolates for c in checks) else "")
    return (f"live check of {what}: {inside}/{total} fresh "
            f"runs inside ({inside / total:.0%}; calibrated is about 90%): {parts}{beyond}")


def record_interval_checks(directory: str | Path, checks: Sequence[IntervalCheck],
                           any_seed: Sequence[IntervalCheck] = ()) -> None:
    """Keep the latest live checks in ``evaluations.json`` beside the runs they were computed
    from: ``interval_check`` (the model's interval) and ``interval_check_any_seed`` (widened
    by the measured seed spread)."""
    path = Path(directory) / EVALUATIONS_FILE
    if not checks or not path.exists():
        return
    payload = json.loads(path.read_text(encoding="utf-8"))
    for key, what, group in (
            ("interval_check", "fresh-seed runs at the target inside the study's 90% interval "
             "for a new run (the model's: another run with the study's seed)", checks),
            ("interval_check_any_seed", "the same runs inside that interval widened by the "
             "seed sd pooled over the other mixtures' replicates at the target", any_seed)):
        payload.pop(key, None)
        if group:
            payload[key] = {
                "what": what,
                "inside": sum(c.inside for c in group), "runs": sum(len(c.values) for c in group),
                "mixtures": [{"name": c.name, "run_lower90": c.lower, "run_upper90": c.upper,
                              "values": list(c.values), "inside": c.inside,
                              "extrapolates": c.extrapolates} for c in group]}
    atomic_write_json(path, payload, indent=1)

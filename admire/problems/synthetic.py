"""Seeded multi-fidelity mixture problems with a known optimum, shaped like real run tables.

The target rung's noiseless objective is a random log-linear mixing law (see
:mod:`admire.problems.mixing_law`; minimise, like a loss) whose optimum over the simplex is
planted, interior or on a face, and certified. A cheaper rung is its own level (smaller models
have higher loss) plus a scaled mix of the standardised target and independent laws of the same
family (:mod:`admire.problems.proxy_rungs`; harmful domains are harmful at every scale), with the
target's share calibrated so the cheapest rung's Spearman correlation with the target is the
spec's; intermediate rungs are closer to 1, linearly in log cost. Seed noise is Gaussian, costs
jitter log-normally around each rung's mean. The pool is a Dirichlet swarm (sparse and dense
mixtures, so faces appear) nested across rungs like ADMIRE IFT Runs: every mixture run at a rung
was also run at every cheaper rung.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from admire.errors import ConfigError, ValidationError
from admire.problems.mixing_law import MixingLaw, draw_law, kkt, minimize_law, plant
from admire.problems.proxy_rungs import GenerationError, RungResponse, calibrate, spearman
from admire.schema import runs

METRIC = "loss"
OBJECTIVE = runs.METRIC_PREFIX + METRIC
MIN_WEIGHT_SHARE = (0.02, 0.2)  # smallest optimal weight, as a share of 1/K_useful (log-uniform)
LEVEL_PER_DECADE = 0.1  # relative loss increase per 10x cheaper rung
SCALE_PER_DECADE = 0.25  # relative spread increase per 10x cheaper rung
OPTIMUM_CHECK_TOL = 1e-6
STREAMS = {"target": 0, "pool": 1, "noise": 2, "cost": 3, "face": 4, "other": 10}


@dataclass(frozen=True)
class SyntheticSpec:
    """Shape of a synthetic problem; ``rows_per_rung`` (cheapest first) also fixes the rungs.

    rows_per_rung: distinct mixtures per rung, non-increasing and nested; the last entry is the
        number of target mixtures, which have rows at every rung.
    cost_ratio: mean target cost / mean cheapest cost; rungs in between are geometric.
    rank_corr: Spearman of the cheapest rung's noiseless objective with the target's over the
        target mixtures.
    noise: seed-noise sd at a rung, as a fraction of that rung's noiseless sd over the pool's
        mixtures (at the target: the target objective's spread).
    cheap_noise_factor: the cheapest rung's noise fraction is this many times the target's;
        geometric in between.
    optimum: ``interior`` (every weight > 0) or ``face`` (``face_fraction`` of the domains are
        harmful and get weight 0).
    """

    k: int = 8
    rows_per_rung: tuple[int, ...] = (200, 80, 40)
    cost_ratio: float = 10.0
    rank_corr: float = 0.6
    noise: float = 0.1
    cheap_noise_factor: float = 1.5
    optimum: str = "interior"
    face_fraction: float = 0.25
    replicates: int = 1
    cost_jitter: float = 0.03

    def __post_init__(self) -> None:
        def bad(name: str, message: str) -> ConfigError:
            return ConfigError(f"{message}, got {getattr(self, name)!r}",
                               where=f"SyntheticSpec.{name}")

        for name in ("k", "replicates"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise bad(name, "expected an integer")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "float" and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or not math.isfinite(value)):
                raise bad(f.name, "expected a finite number")
        if not 3 <= self.k <= 100:
            raise bad("k", "expected 3 to 100 domains")
        rows = self.rows_per_rung
        if (not isinstance(rows, tuple) or not 2 <= len(rows) <= 5
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in rows)):
            raise bad("rows_per_rung", "expected a tuple of 2 to 5 integers, cheapest rung first")
        if any(b > a for a, b in zip(rows, rows[1:], strict=False)) or rows[-1] < 20:
            raise bad("rows_per_rung", "expected non-increasing counts (rungs are nested) with "
                      "at least 20 target mixtures")
        if rows[0] > 20000:
            raise bad("rows_per_rung", "expected at most 20000 mixtures")
        if not 3.0 <= self.cost_ratio <= 1000.0:
            raise bad("cost_ratio", "expected a target:cheapest cost ratio from 3 to 1000")
        if not 0.3 <= self.rank_corr <= 0.95:
            raise bad("rank_corr", "expected a rank correlation from 0.3 to 0.95")
        if not 0.0 <= self.noise <= 2.0:
            raise bad("noise", "expected a noise fraction from 0 to 2")
        if not 1.0 <= self.cheap_noise_factor <= 5.0:
            raise bad("cheap_noise_factor", "expected a factor from 1 to 5")
        if self.optimum not in ("interior", "face"):
            raise bad("optimum", "expected 'interior' or 'face'")
        if not 0.0 < self.face_fraction <= 0.8:
            raise bad("face_fraction", "expected a fraction in (0, 0.8]")
        if not 1 <= self.replicates <= 5:
            raise bad("replicates", "expected 1 to 5 seeds per mixture and rung")
        if not 0.0 <= self.cost_jitter <= 0.2:
            raise bad("cost_jitter", "expected a relative jitter from 0 to 0.2")

    @property
    def n_rungs(self) -> int:
        return len(self.rows_per_rung)

    @property
    def n_harmful(self) -> int:
        return max(1, round(self.face_fraction * self.k)) if self.optimum == "face" else 0

    def rung_costs(self) -> tuple[float, ...]:
        """Mean cost per rung in target-run units (target 1.0), geometric from cheapest up."""
        last = self.n_rungs - 1
        return tuple(float(self.cost_ratio ** ((r - last) / last)) for r in range(self.n_rungs))

    def requested_corr(self) -> tuple[float, ...]:
        """Requested Spearman with the target for each cheaper rung (linear in log cost)."""
        last = self.n_rungs - 1
        return tuple(self.rank_corr + (1.0 - self.rank_corr) * r / last for r in range(last))


def stream_rng(seed: int, stream: int) -> np.random.Generator:
    """A generator for one (seed, stream) pair: each random ingredient of a problem draws from
    its own stream, so adding one never shifts another's draws."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream]))


def _swarm_row(k: int, rng: np.random.Generator) -> np.ndarray:
    row = np.zeros(k)
    if rng.random() < 0.5:  # dense, from spiky to near-uniform
        row[:] = rng.dirichlet(np.full(k, np.exp(rng.uniform(np.log(0.3), np.log(3.0)))))
    else:  # sparse: a random face of 2..K/2 domains
        m = int(rng.integers(2, max(2, math.ceil(k / 2)) + 1))
        support = rng.choice(k, m, replace=False)
        row[support] = rng.dirichlet(np.full(m, np.exp(rng.uniform(np.log(0.2), 0.0))))
    return row


def dirichlet_swarm(k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, K) mixtures, distinct to 6 decimals (the precision runs tables match mixtures at).

    Half dense Dirichlet, half sparse, as in RegMix and Olmix swarms. At small K a spiky draw can
    round to a vertex another row already holds: such repeats are redrawn.
    """
    out = np.vstack([_swarm_row(k, rng) for _ in range(n)])
    for _ in range(100):
        repeated = pd.Series([tuple(r) for r in np.round(out, 6)]).duplicated().to_numpy()
        if not repeated.any():
            return out
        for i in np.flatnonzero(repeated):
            out[i] = _swarm_row(k, rng)
    raise GenerationError(f"could not draw {n} distinct mixtures over {k} domains")


@dataclass(frozen=True)
class SyntheticProblem:
    """A generated runs table with its noiseless truth at every rung and its known optimum."""

    name: str
    spec: SyntheticSpec
    seed: int
    table: pd.DataFrame
    rungs: tuple[str, ...]  # cheapest first, target last
    rung_costs: tuple[float, ...]  # mean cost per rung, target-run units
    noise_sd: tuple[float, ...]  # seed-noise sd per rung, objective units
    target_law: MixingLaw
    responses: tuple[RungResponse, ...]  # one per cheaper rung
    harmful: np.ndarray  # (K,) bool: domains the optimum leaves out
    optimum_weights: np.ndarray
    optimum_value: float
    kkt_residuals: tuple[float, float]  # stationarity, dual violation (<= 0)
    realised_corr: tuple[float, ...]  # noiseless Spearman vs target, over the rung's mixtures
    shared_corr: tuple[float, ...]  # the same over the target mixtures only (every rung has them)
    domains: tuple[str, ...]
    objective: str = OBJECTIVE
    minimize: bool = True

    def _rung_index(self, rung: str | int | None) -> int:
        if rung is None:
            return len(self.rungs) - 1
        if isinstance(rung, str):
            if rung not in self.rungs:
                raise ValidationError(f"unknown rung {rung!r}; rungs are {list(self.rungs)}",
                                      where="rung")
            return self.rungs.index(rung)
        if not 0 <= rung < len(self.rungs):
            raise ValidationError(f"rung index {rung} outside 0..{len(self.rungs) - 1}",
                                  where="rung")
        return int(rung)

    def truth(self, weights: np.ndarray, rung: str | int | None = None) -> np.ndarray:
        """Noiseless objective of (n, K) or (K,) mixtures at a rung (default: the target)."""
        w = np.asarray(weights, dtype=float)
        target = self.target_law.value(w)
        r = self._rung_index(rung)
        return target if r == len(self.rungs) - 1 else self.responses[r].value(w, target)

    def evaluate(self, weights: np.ndarray, rung: str | int, rng: np.random.Generator
                 ) -> tuple[dict[str, float], float]:
        """One noisy run of a mixture at a rung: ({metric: value}, cost in target-run units)."""
        w = np.asarray(weights, dtype=float)
        if w.shape != (self.spec.k,) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValidationError(f"expected {self.spec.k} finite non-negative weights",
                                  where="weights")
        if abs(w.sum() - 1.0) > 1e-6:
            raise ValidationError(f"weights sum to {w.sum():.6g}, not 1", where="weights")
        r = self._rung_index(rung)
        value = float(self.truth(w, r)) + self.noise_sd[r] * float(rng.standard_normal())
        sigma = self.spec.cost_jitter
        cost = self.rung_costs[r] * float(np.exp(sigma * rng.standard_normal() - sigma**2 / 2))
        return {METRIC: value}, cost


def _harmful_mask(spec: SyntheticSpec, seed: int) -> np.ndarray:
    mask = np.zeros(spec.k, dtype=bool)
    if spec.n_harmful:
        mask[stream_rng(seed, STREAMS["face"]).choice(spec.k, spec.n_harmful, replace=False)] = True
    return mask


def _law(spec: SyntheticSpec, seed: int, stream: int, harmful: np.ndarray
         ) -> tuple[MixingLaw, np.ndarray]:
    rng = stream_rng(seed, stream)
    law = draw_law(spec.k, rng, harmful)
    spread = float(np.std(law.value(rng.dirichlet(np.ones(spec.k), size=256))))
    margin = rng.uniform(0.5, 2.0, size=spec.k) * spread
    share = float(np.exp(rng.uniform(*np.log(MIN_WEIGHT_SHARE))))
    return plant(law, harmful, share / int((~harmful).sum()), margin)


def generate(spec: SyntheticSpec, seed: int = 0, name: str = "synthetic") -> SyntheticProblem:
    """Turn (spec, seed) into a validated runs table and its truth; same inputs, same table."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"expected a non-negative integer, got {seed!r}", where="seed")
    with threadpool_limits(limits=1):  # K <= 100: BLAS threads only contend
        return _generate(spec, seed, name)


def _generate(spec: SyntheticSpec, seed: int, name: str) -> SyntheticProblem:
    harmful = _harmful_mask(spec, seed)
    target_law, planted = _law(spec, seed, STREAMS["target"], harmful)
    pool_rng = stream_rng(seed, STREAMS["pool"])
    mixtures = dirichlet_swarm(spec.k, spec.rows_per_rung[0], pool_rng)
    calib = mixtures[: spec.rows_per_rung[-1]]  # nested: the first n_r mixtures run at rung r
    target_calib = target_law.value(calib)

    optimum = minimize_law(target_law, np.vstack([
        np.full(spec.k, 1.0 / spec.k), mixtures[np.argmin(target_law.value(mixtures))],
        pool_rng.dirichlet(np.ones(spec.k), size=2)]))
    if (np.max(np.abs(optimum.weights - planted)) > OPTIMUM_CHECK_TOL
            or optimum.value < float(target_law.value(planted)) - 1e-12):
        raise GenerationError("the solver's optimum disagrees with the planted one")
    residuals = kkt(target_law, planted)

    costs = spec.rung_costs()
    responses = []
    for r, want in enumerate(spec.requested_corr()):
        decades = math.log10(costs[-1] / costs[r])
        others = (_law(spec, seed, STREAMS["other"] + 2 * r, harmful)[0],
                  _law(spec, seed, STREAMS["other"] + 2 * r + 1, harmful)[0])
        at_rung = mixtures[: spec.rows_per_rung[r]]
        responses.append(calibrate(others, at_rung, target_law.value(at_rung),
                                   spec.rows_per_rung[-1], want, 1 + LEVEL_PER_DECADE * decades,
                                   1 + SCALE_PER_DECADE * decades))
    rung_names = tuple(f"r{r}" for r in range(spec.n_rungs))
    problem = SyntheticProblem(
        name=name, spec=spec, seed=seed, table=pd.DataFrame(), rungs=rung_names,
        rung_costs=costs, noise_sd=(), target_law=target_law, responses=tuple(responses),
        harmful=harmful, optimum_weights=planted, optimum_value=float(target_law.value(planted)),
        kkt_residuals=residuals, realised_corr=(), shared_corr=(),
        domains=tuple(f"d{i:02d}" for i in range(spec.k)))
    realised = tuple(spearman(problem.truth(mixtures[:n], r), target_law.value(mixtures[:n]))
                     for r, n in enumerate(spec.rows_per_rung[:-1]))
    shared = tuple(spearman(problem.truth(calib, r), target_calib)
                   for r in range(spec.n_rungs - 1))
    last = spec.n_rungs - 1
    noise_sd = tuple(spec.noise * spec.cheap_noise_factor ** ((last - r) / last)
                     * float(np.std(problem.truth(mixtures, r))) for r in range(spec.n_rungs))
    table = _table(problem, mixtures, noise_sd, seed)
    return replace(problem, table=table, noise_sd=noise_sd, realised_corr=realised,
                   shared_corr=shared)


def _table(problem: SyntheticProblem, mixtures: np.ndarray, noise_sd: tuple[float, ...],
           seed: int) -> pd.DataFrame:
    spec = problem.spec
    noise_rng, cost_rng = stream_rng(seed, STREAMS["noise"]), stream_rng(seed, STREAMS["cost"])
    blocks = []
    for r, n in enumerate(spec.rows_per_rung):
        w = np.repeat(mixtures[:n], spec.replicates, axis=0)
        values = np.repeat(problem.truth(mixtures[:n], r), spec.replicates)
        values = values + noise_sd[r] * noise_rng.standard_normal(len(values))
        jitter = np.exp(spec.cost_jitter * cost_rng.standard_normal(len(values)))
        blocks.append(rung_block(problem, r, w, problem.domains, values, jitter,
                                 np.tile(np.arange(spec.replicates), n)))
    return runs_table(blocks, problem, f"{problem.name}-s{seed}", f"synthetic {problem.name}")


def rung_block(problem: SyntheticProblem, r: int, weights: np.ndarray,
               domains: tuple[str, ...], values: np.ndarray, jitter: np.ndarray,
               seeds: np.ndarray | int) -> pd.DataFrame:
    """One rung's synthetic rows; costs are the rung's cost times ``jitter`` over its mean (so
    the rung's mean cost is exact)."""
    block = pd.DataFrame(weights, columns=[runs.WEIGHT_PREFIX + d for d in domains])
    block[runs.RUNG] = problem.rungs[r]
    block[runs.FIDELITY] = problem.rung_costs[r]
    block[runs.COST] = problem.rung_costs[r] * jitter / jitter.mean()
    block[OBJECTIVE] = values
    block[runs.SEED] = seeds
    return block


def runs_table(blocks: list[pd.DataFrame], problem: SyntheticProblem, study: str,
               source: str) -> pd.DataFrame:
    """The rung blocks as one validated runs table: run ids, study, status, no timestamps."""
    table = pd.concat(blocks, ignore_index=True)
    table.insert(0, runs.RUN_ID, [f"{study}-{i:05d}" for i in range(len(table))])
    table.insert(1, runs.STUDY, study)
    table[runs.STATUS] = runs.COMPLETED
    table[runs.STARTED_AT] = pd.NaT
    table[runs.FINISHED_AT] = pd.NaT
    with warnings.catch_warnings():  # validate_runs adds columns one by one: harmless here
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        validated, _ = runs.validate_runs(table, source=source, rungs=problem.rungs)
    return validated

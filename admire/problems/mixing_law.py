"""A random log-linear data-mixing law with a planted, certified minimum over the simplex.

Why this shape: it is the published mixing law (Ye et al., "Data Mixing Laws", 2024; RegMix and
Olmix fit the same log-linear family). Evaluation task j has loss

    L_j(w) = c_j + k_j * exp(-sum_i T_ji w_i)

so more weight on related training domains lowers a task's loss with diminishing returns. The
objective is an importance-weighted mean of the L_j, plus a per-domain quality term ``b . w``
and a data-repetition penalty ``sum_i g_i w_i**2`` (an up-weighted small domain is repeated for
more epochs, as in data-constrained scaling laws). exp of an affine map is convex whatever the
sign of T, b . w is linear and the penalty strictly convex, so the minimum over the simplex is
unique. :func:`plant` chooses b so that minimum is interior or on a chosen face; an independent
solver (:func:`minimize_law`) and the KKT residuals then confirm it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KKT_TOL = 1e-6
ACTIVE_TOL = 1e-9


@dataclass(frozen=True)
class MixingLaw:
    """``f(w) = sum_j p_j (c_j + k_j exp(-T_j . w)) + b . w + sum_i g_i w_i**2``; T is (J, K)."""

    affinity: np.ndarray  # (J, K) T_ji: how much training domain i lowers task j's loss
    floor: np.ndarray  # (J,) c_j: irreducible loss
    reducible: np.ndarray  # (J,) k_j: loss with no related data, above the floor
    importance: np.ndarray  # (J,) p_j >= 0, sums to 1: the eval suite's weighting
    quality: np.ndarray  # (K,) b_i: first-order loss change per unit weight (data quality)
    repetition: np.ndarray  # (K,) g_i >= 0: repetition penalty, larger for small domains

    @property
    def k(self) -> int:
        return int(self.affinity.shape[1])

    def value(self, weights: np.ndarray) -> np.ndarray:
        """Objective at (n, K) mixtures -> (n,); a single (K,) mixture gives shape ()."""
        w = np.asarray(weights, dtype=float)
        terms = self.reducible * np.exp(-w @ self.affinity.T)
        return (terms @ self.importance + self.floor @ self.importance + w @ self.quality
                + (w * w) @ self.repetition)

    def value_at(self, weights: np.ndarray, effective: np.ndarray) -> np.ndarray:
        """:meth:`value` with the data terms at ``effective`` weights (what the drawn tokens
        are worth once repetition is discounted, as a share of the run; see
        :mod:`admire.problems.pool_states`), quality and penalty at the weights themselves."""
        w, e = np.asarray(weights, dtype=float), np.asarray(effective, dtype=float)
        terms = self.reducible * np.exp(-e @ self.affinity.T)
        return (terms @ self.importance + self.floor @ self.importance + w @ self.quality
                + (w * w) @ self.repetition)

    def gradient(self, weights: np.ndarray) -> np.ndarray:
        """Gradient at one (K,) mixture."""
        w = np.asarray(weights, dtype=float)
        decay = self.importance * self.reducible * np.exp(-self.affinity @ w)
        return -decay @ self.affinity + self.quality + 2.0 * self.repetition * w

    def hessian(self, weights: np.ndarray) -> np.ndarray:
        """(K, K) Hessian at one mixture: positive definite (the penalty is strictly convex)."""
        w = np.asarray(weights, dtype=float)
        decay = self.importance * self.reducible * np.exp(-self.affinity @ w)
        return (self.affinity.T * decay) @ self.affinity + 2.0 * np.diag(self.repetition)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def draw_law(k: int, rng: np.random.Generator, harmful: np.ndarray,
             repetition: float = 0.001) -> MixingLaw:
    """A random law (no quality term yet); ``harmful`` is a boolean mask over domains.

    Domains and evaluation tasks load on a few latent topics (code, math, web, ...); task j's
    affinity to domain i is its topic similarity times a task strength, so a task responds to the
    share of related data: tasks trade off, as in real swarms (Olmix task BPBs correlate little
    with each other). Harmful domains lower nothing and raise every task's loss a little.
    """
    topics = int(np.clip(k // 3, 2, 12))
    tasks = int(np.clip(k // 2, 4, 16))
    domain_topics = _unit_rows(rng.dirichlet(np.full(topics, 0.3), size=k))
    task_topics = _unit_rows(rng.dirichlet(np.full(topics, 0.3), size=tasks))
    strength = np.exp(rng.uniform(np.log(2.0), np.log(8.0), size=tasks))
    affinity = strength[:, None] * (task_topics @ domain_topics.T) * rng.uniform(
        0.6, 1.4, size=k)[None, :]
    if harmful.any():
        affinity[:, harmful] = -rng.uniform(0.1, 0.5, size=(tasks, int(harmful.sum())))
    size = np.exp(rng.uniform(np.log(0.3), np.log(3.0), size=k))
    return MixingLaw(affinity=affinity, floor=rng.uniform(1.0, 3.0, size=tasks),
                     reducible=rng.uniform(0.5, 2.0, size=tasks),
                     importance=rng.dirichlet(np.full(tasks, 2.0)), quality=np.zeros(k),
                     repetition=k * repetition / size)


def _entropic_minimum(law: MixingLaw, useful: np.ndarray, tau: float,
                      start: np.ndarray | None = None) -> np.ndarray:
    """argmin f(w) + tau * sum_i w_i log w_i over mixtures supported on ``useful`` (Newton)."""
    s = np.flatnonzero(useful)
    n = len(s)
    w = np.where(useful, 1.0 / n, 0.0) if start is None else start.copy()

    def objective(x: np.ndarray) -> float:
        return float(law.value(x)) + tau * float(np.sum(x[s] * np.log(x[s])))

    for _ in range(100):
        grad = law.gradient(w)[s] + tau * (np.log(w[s]) + 1.0)
        hess = law.hessian(w)[np.ix_(s, s)] + tau * np.diag(1.0 / w[s])
        system = np.zeros((n + 1, n + 1))
        system[:n, :n] = hess
        system[:n, n] = system[n, :n] = 1.0
        direction = np.linalg.solve(system, np.concatenate([-grad, [0.0]]))[:n]
        shrinking = direction < 0
        alpha = min(1.0, 0.99 * float(np.min(-w[s][shrinking] / direction[shrinking]))
                    if shrinking.any() else 1.0)
        f0, slope = objective(w), float(grad @ direction)
        while alpha > 1e-12:
            trial = w.copy()
            trial[s] += alpha * direction
            if objective(trial) <= f0 + 1e-4 * alpha * slope:
                break
            alpha *= 0.5
        w = trial / trial.sum()
        if np.max(np.abs(alpha * direction)) < 1e-13:
            break
    return w


def plant(law: MixingLaw, harmful: np.ndarray, min_weight: float, margin: np.ndarray
          ) -> tuple[MixingLaw, np.ndarray]:
    """Add a quality term b so the optimum is zero exactly on ``harmful`` and >= ``min_weight``
    elsewhere; return the new law and that optimum.

    The natural optimum of a law is sparse on random faces. We solve the law plus the smallest
    entropy bonus tau that lifts every useful weight to ``min_weight``, then replace the bonus by
    its linearisation at that point, b_i = tau * log w_i (a per-domain quality offset): the point
    then meets the KKT conditions of the tilted law exactly, so by strict convexity it is the
    optimum, and the landscape away from it stays the law's own. Harmful domains get at least
    ``margin`` (per domain) of gradient slack, so their zero is robust.
    """
    useful = ~harmful
    n_useful = int(useful.sum())
    high = 0.0
    w = np.where(useful, 1.0, 0.0)  # one useful domain: the vertex, no bonus needed
    if n_useful > 1:
        # Start where the bonus dominates (fast, near-uniform solves), then bisect down.
        high = float(np.mean(np.abs(law.gradient(w / n_useful))))
        while (w := _entropic_minimum(law, useful, high))[useful].min() < min_weight:
            high *= 4.0
        low = high / 4.0  # step down until the bonus is too small: never a tiny, slow tau
        while (trial := _entropic_minimum(law, useful, low, w))[useful].min() >= min_weight:
            high, w, low = low, trial, low / 4.0
            if low < 1e-12:
                break
        for _ in range(10):  # geometric bisection for the smallest tau that suffices
            mid = float(np.sqrt(low * high))
            trial = _entropic_minimum(law, useful, mid, w)
            if trial[useful].min() < min_weight:
                low = mid
            else:
                high, w = mid, trial
    quality = np.zeros(law.k)
    quality[useful] = high * np.log(w[useful])
    tilted = MixingLaw(law.affinity, law.floor, law.reducible, law.importance, quality,
                       law.repetition)
    grad = tilted.gradient(w)
    mu = float(np.sum(grad[useful] * w[useful]))
    quality[harmful] = np.maximum(0.0, mu + margin[harmful] - grad[harmful])
    quality -= quality[useful] @ w[useful]  # b . w is a constant shift on the simplex
    return MixingLaw(law.affinity, law.floor, law.reducible, law.importance, quality,
                     law.repetition), w


@dataclass(frozen=True)
class Optimum:
    """The law's minimum over the simplex, with the KKT residuals that certify it."""

    weights: np.ndarray
    value: float
    stationarity: float  # max |grad_i - mu| over the support
    dual_violation: float  # max (mu - grad_i) over zero weights; <= 0 when optimal


def kkt(law: MixingLaw, weights: np.ndarray) -> tuple[float, float]:
    """KKT residuals on the simplex: grad_i = mu on the support, grad_i >= mu off it."""
    grad = law.gradient(weights)
    support = weights > ACTIVE_TOL
    mu = float(np.sum(grad[support] * weights[support]) / np.sum(weights[support]))
    stationarity = float(np.max(np.abs(grad[support] - mu)))
    off = ~support
    dual = float(np.max(mu - grad[off])) if off.any() else -np.inf
    return stationarity, dual


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the probability simplex (sort-based, exact zeros)."""
    u = np.sort(v)[::-1]
    cumulative = np.cumsum(u) - 1.0
    rho = np.flatnonzero(u - cumulative / np.arange(1, len(v) + 1) > 0)[-1]
    return np.maximum(v - cumulative[rho] / (rho + 1.0), 0.0)


def _projected_gradient(law: MixingLaw, w: np.ndarray, iters: int = 400) -> np.ndarray:
    """Accelerated projected gradient with backtracking and restarts: finds the support (the
    Newton polish after it does the precision, so it stops once steps are tiny)."""
    step, x, y, momentum = 1.0, w, w, 1.0
    fx = float(law.value(x))
    for _ in range(iters):
        grad, fy = law.gradient(y), float(law.value(y))
        while True:
            candidate = project_simplex(y - step * grad)
            diff = candidate - y
            fc = float(law.value(candidate))
            if fc <= fy + grad @ diff + diff @ diff / (2 * step) + 1e-15:
                break
            step *= 0.5
        if fc > fx:  # restart the momentum when it overshoots
            y, momentum = x, 1.0
            continue
        following = (1 + np.sqrt(1 + 4 * momentum**2)) / 2
        y = candidate + (momentum - 1) / following * (candidate - x)
        moved = float(np.max(np.abs(candidate - x)))
        x, fx, momentum = candidate, fc, following
        if moved < 1e-10:
            break
        step *= 1.5
    return x


def _newton_on_face(law: MixingLaw, w: np.ndarray, iters: int = 100) -> np.ndarray:
    """Primal active-set Newton: damped Newton on the support, variables leave at the boundary
    and the most violating zero weight enters when the face is solved."""
    w = w.copy()
    support = w > 0
    for _ in range(iters):
        s = np.flatnonzero(support)
        grad = law.gradient(w)
        n = len(s)
        system = np.zeros((n + 1, n + 1))
        system[:n, :n] = law.hessian(w)[np.ix_(s, s)]
        system[:n, n] = system[n, :n] = 1.0
        direction = np.linalg.solve(system, np.concatenate([-grad[s], [0.0]]))[:n]
        if np.max(np.abs(direction)) < 1e-13:
            mu = float(np.mean(grad[s]))
            violation = np.where(support, -np.inf, mu - grad)
            if violation.max() <= KKT_TOL * 1e-3:
                break
            support[int(np.argmax(violation))] = True
            continue
        shrinking = direction < 0
        limit = np.min(-w[s][shrinking] / direction[shrinking]) if shrinking.any() else np.inf
        alpha, f0 = min(1.0, float(limit)), float(law.value(w))
        slope = float(grad[s] @ direction)
        while alpha > 1e-16:
            trial = w.copy()
            trial[s] += alpha * direction
            trial = np.maximum(trial, 0.0)
            if float(law.value(trial)) <= f0 + 1e-4 * alpha * slope:
                break
            alpha *= 0.5
        else:
            break
        if alpha >= limit:  # a weight reached zero: it leaves the support
            trial[s[shrinking][np.argmin(-w[s][shrinking] / direction[shrinking])]] = 0.0
        w = trial / trial.sum()
        support = w > 0
    return w


def minimize_law(law: MixingLaw, starts: np.ndarray) -> Optimum:
    """Minimum over the simplex from several starts; the best polished point wins."""
    best: np.ndarray | None = None
    for start in starts:
        w = _newton_on_face(law, _projected_gradient(law, project_simplex(start)))
        if best is None or law.value(w) < law.value(best):
            best = w
    assert best is not None
    stationarity, dual = kkt(law, best)
    return Optimum(best, float(law.value(best)), stationarity, dual)

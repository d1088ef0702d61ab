"""Cost-aware multi-fidelity acquisition and the recommendation at the target fidelity.

The default acquisition is a discrete multi-fidelity knowledge gradient per unit cost: the value
of running candidate (mixture, rung) is the expected rise of the best *target-rung* posterior mean
over the recommendation set, divided by what the run costs. It scores exactly what admire is
judged on (the recommendation at the target), so a cheap rung is chosen only when its correlation
with the target makes it worth its price, and the target rung gets runs where it matters.

For one new observation y(x) the posterior mean at target points t moves along one Gaussian
direction: mu'(t) = mu(t) + s_t(x) Z with s_t(x) = Cov(f(t), f(x)) / sd(y(x)) and Z ~ N(0, 1), so
KG(x) = E[max_t mu(t) + s_t(x) Z] - max_t mu(t), computed by Gauss-Hermite quadrature.

BoTorch's ``qMultiFidelityMaxValueEntropy`` (with an inverse-cost utility and projection to the
target) is available as ``mes``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from botorch.acquisition.cost_aware import InverseCostWeightedUtility
from botorch.acquisition.max_value_entropy_search import qMultiFidelityMaxValueEntropy
from botorch.models.deterministic import DeterministicModel

from admire.bo.surrogate import DTYPE, MixtureSurrogate

HERMITE_NODES = 48
Z90 = 1.6448536269514722


@dataclass(frozen=True)
class Recommendation:
    """Best predicted mixture at the target rung, with its predicted value and 90% interval.

    Values are in the objective's own direction (already un-flipped for minimisation).
    """

    index: int
    weights: np.ndarray
    mean: float
    lower90: float
    upper90: float


def recommend(surrogate: MixtureSurrogate, candidates: np.ndarray, target_rung: int,
              minimize: bool = False, caution: float = 0.0) -> Recommendation:
    """Best target-rung prediction over ``candidates``.

    ``caution = 0`` is the argmax of the posterior mean; ``caution = z > 0`` maximises the
    lower bound mean - z * sd instead, which prefers mixtures the data supports over ones whose
    high mean is an extrapolation (a pessimistic recommendation rule).
    """
    mean, var = surrogate.predict(candidates, target_rung)
    i = int(np.argmax(mean - caution * np.sqrt(var)))
    sd = float(np.sqrt(var[i]))
    sign = -1.0 if minimize else 1.0
    lo, hi = sorted((sign * (mean[i] - Z90 * sd), sign * (mean[i] + Z90 * sd)))
    return Recommendation(i, np.asarray(candidates[i]), sign * float(mean[i]), lo, hi)


def _expected_max_of_lines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """E[max_t a_{i,t} + b_{i,t} Z] for each row i, Z ~ N(0, 1) (Gauss-Hermite)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(HERMITE_NODES)
    z = torch.as_tensor(nodes, dtype=DTYPE)
    w = torch.as_tensor(weights / weights.sum(), dtype=DTYPE)
    values = a.unsqueeze(-1) + b.unsqueeze(-1) * z.view(1, 1, -1)  # (c, m, nodes)
    return (values.max(dim=1).values * w).sum(dim=-1)


def knowledge_gradient(surrogate: MixtureSurrogate, cand_weights: np.ndarray,
                       cand_rung: np.ndarray, target_weights: np.ndarray, target_rung: int,
                       chunk: int = 256, *, candidates_recommendable: bool = False) -> np.ndarray:
    """Discrete multi-fidelity KG of each candidate (mixture, rung) for the target-rung max.

    The value is the expected rise of the best posterior mean over ``target_weights`` at the
    target rung. With ``candidates_recommendable`` a target-rung candidate joins that set
    itself: the recommendation is chosen among the mixtures run at the target, so a run there
    is worth what it adds as a new contender (an expected improvement on the posterior mean)
    plus what it teaches about the contenders already run.
    """
    m = len(target_weights)
    if m == 0:
        raise ValueError("the knowledge gradient needs at least one target mixture")
    noise = surrogate.noise_variance(cand_weights, cand_rung)
    out = np.empty(len(cand_weights))
    rung_target = np.full(m, target_rung)
    for start in range(0, len(cand_weights), chunk):
        sl = slice(start, start + chunk)
        w = np.concatenate([target_weights, cand_weights[sl]])
        r = np.concatenate([rung_target, cand_rung[sl]])
        mean, cov = surrogate.joint(w, r)
        best_now = mean[:m].max()  # a candidate is no contender before it has run
        mu_t = mean[:m].expand(len(w) - m, m)
        cross = cov[m:, :m]  # Cov(f(x), f(t))
        var_f = torch.diagonal(cov)[m:].clamp_min(0)
        sd_y = (var_f + torch.as_tensor(noise[sl], dtype=DTYPE)).sqrt()
        s = cross / sd_y.unsqueeze(-1)
        if candidates_recommendable:
            own = torch.as_tensor(cand_rung[sl] == target_rung)
            floor = mean.min() - 1e3 * (mean.max() - mean.min() + 1.0)
            mu_t = torch.cat([mu_t, torch.where(own, mean[m:], floor).unsqueeze(-1)], dim=1)
            s = torch.cat([s, torch.where(own, var_f / sd_y, 0.0).unsqueeze(-1)], dim=1)
        out[sl] = (_expected_max_of_lines(mu_t, s) - best_now).clamp_min(0).numpy()
    return out


class _RungCost(DeterministicModel):
    """Cost of an input row by its rung (the last input column holds the rung index)."""

    def __init__(self, costs: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("costs", torch.as_tensor(costs, dtype=DTYPE))
        self._num_outputs = 1

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.costs[X[..., -1].round().long()].unsqueeze(-1)


def max_value_entropy(surrogate: MixtureSurrogate, cand_weights: np.ndarray,
                      cand_rung: np.ndarray, target_weights: np.ndarray, target_rung: int,
                      rung_costs: np.ndarray, seed: int) -> np.ndarray:
    """BoTorch's MF-MES per unit cost, with the max-value set drawn from the target mixtures
    (Ax's default draws from the box and ignores the simplex)."""
    if surrogate.kind != "icm":
        raise ValueError("mes is wired for the icm surrogate (rung index as the last input)")
    torch.manual_seed(seed)
    target_X = surrogate._X(target_weights, target_rung)

    def project(X: torch.Tensor) -> torch.Tensor:
        X = X.clone()
        X[..., -1] = float(target_rung)
        return X

    acqf = qMultiFidelityMaxValueEntropy(
        surrogate.model, candidate_set=target_X, num_fantasies=16,
        cost_aware_utility=InverseCostWeightedUtility(cost_model=_RungCost(rung_costs)),
        project=project)
    X = surrogate._X(cand_weights, cand_rung).unsqueeze(1)
    with torch.no_grad():
        return torch.cat([acqf(X[i:i + 256]) for i in range(0, len(X), 256)]).numpy()

"""Cost-aware multi-fidelity acquisition and the recommendation at the target fidelity.

The default acquisition is a discrete multi-fidelity knowledge gradient per unit cost: the value
of running candidate (mixture, rung) is the expected rise of the best *target-rung* posterior mean
over the recommendation set, divided by what the run costs. It scores exactly what admire is
judged on (the recommendation at the target), so a cheap rung is chosen only when its correlation
with the target makes it worth its price, and the target rung gets runs where it matters.

For one new observation y(x) the posterior mean at target points t moves along one Gaussian
direction: mu'(t) = mu(t) + s_t(x) Z with s_t(x) = Cov(f(t), f(x)) / sd(y(x)) and Z ~ N(0, 1), so
KG(x) = E[max_t mu(t) + s_t(x) Z] - max_t mu(t), computed by Gauss-Hermite quadrature.

(BoTorch's qMultiFidelityMaxValueEntropy was tried and dropped: it refuses the multi-output ICM
model, and on the multi-fidelity GP with an inverse-cost utility it bought the cheapest rung in 64
of 65 picks on ADMIRE IFT Runs.)
"""

from __future__ import annotations

import numpy as np
import torch

from admire.bo.surrogate import DTYPE, MixtureSurrogate

HERMITE_NODES = 48


def best_predicted(surrogate: MixtureSurrogate, candidates: np.ndarray, target_rung: int,
                   caution: float = 0.0, *, sd: bool = True) -> tuple[int, float, float | None]:
    """(index, posterior mean, posterior sd) of the best target-rung prediction over
    ``candidates``, values oriented for maximisation; ``sd=False`` skips the variance (None).

    ``caution = 0`` is the argmax of the posterior mean; ``caution = z > 0`` maximises the
    lower bound mean - z * sd instead, which prefers mixtures the data supports over ones whose
    high mean is an extrapolation (a pessimistic recommendation rule).
    """
    if caution == 0 and not sd:
        mean = surrogate.predict_mean(candidates, target_rung)
        i = int(np.argmax(mean))
        return i, float(mean[i]), None
    mean, var = surrogate.predict(candidates, target_rung)
    i = int(np.argmax(mean - caution * np.sqrt(var)))
    return i, float(mean[i]), float(np.sqrt(var[i]))


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

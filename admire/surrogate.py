"""Multi-fidelity GP surrogates over (mixture, rung), on BoTorch.

Two models share one interface:

* ``icm`` (default): a BoTorch ``MultiTaskGP``: an intrinsic-coregionalisation kernel, a learned
  rung-by-rung covariance times a kernel over the weights, with per-rung standardisation
  (``StratifiedStandardize``). Rungs sit at very different objective levels (0.33 at 0.5B vs 0.59
  at 7B on ADMIRE IFT Runs) and correlate only moderately, which the ICM learns directly.
* ``mfgp``: ``SingleTaskMultiFidelityGP`` with the numeric fidelity as a data-fidelity input
  (the paper's model), kept for comparison.

Hyperparameters are warm-started from the previous fit, which cuts fit time at every step.
Objective values are stored oriented for maximisation; :class:`Direction` handles the flip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import MultiTaskGP, SingleTaskMultiFidelityGP
from botorch.models.model import Model
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize, StratifiedStandardize
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor

DTYPE = torch.float64


@dataclass(frozen=True)
class TrainingData:
    """Observations: weights (n, K), rung index (n,), numeric fidelity per rung, y (n,) to max."""

    weights: np.ndarray
    rung: np.ndarray
    y: np.ndarray
    rung_fidelity: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def k(self) -> int:
        return self.weights.shape[1]


def _inputs(weights: np.ndarray | Tensor, rung: np.ndarray | Tensor, kind: str,
            rung_fidelity: tuple[float, ...]) -> Tensor:
    w = torch.as_tensor(np.asarray(weights), dtype=DTYPE)
    r = torch.as_tensor(np.asarray(rung), dtype=torch.long)
    last = r.to(DTYPE) if kind == "icm" else torch.tensor(rung_fidelity, dtype=DTYPE)[r]
    return torch.cat([w, last.unsqueeze(-1)], dim=-1)


class MixtureSurrogate:
    """A fitted multi-fidelity GP; predictions are at (mixture, rung index) pairs."""

    def __init__(self, kind: str = "icm", *, weight_bounds: tuple[np.ndarray, np.ndarray] | None
                 = None) -> None:
        if kind not in ("icm", "mfgp"):
            raise ValueError(f"unknown surrogate {kind!r}")
        self.kind = kind
        self.weight_bounds = weight_bounds
        self.model: Model | None = None
        self.data: TrainingData | None = None
        self._state: Mapping[str, Tensor] | None = None

    def _build(self, data: TrainingData) -> Model:
        X = _inputs(data.weights, data.rung, self.kind, data.rung_fidelity)
        Y = torch.as_tensor(data.y, dtype=DTYPE).unsqueeze(-1)
        k = data.k
        lo, hi = (self.weight_bounds if self.weight_bounds is not None
                  else (np.zeros(k), np.ones(k)))
        n_rungs = len(data.rung_fidelity)
        if self.kind == "icm":
            bounds = torch.tensor(np.stack([np.append(lo, 0.0), np.append(hi, 1.0)]), dtype=DTYPE)
            present = sorted({int(r) for r in data.rung})
            if len(present) == 1:
                # One rung seen so far: a single-task GP on that rung is all the data supports.
                return SingleTaskMultiFidelityGP(
                    X, Y, data_fidelities=[k], linear_truncated=False,
                    input_transform=Normalize(k + 1, bounds=bounds,
                                              indices=list(range(k))),
                    outcome_transform=Standardize(1))
            all_tasks = list(range(n_rungs))
            return MultiTaskGP(
                X, Y, task_feature=k, all_tasks=all_tasks, rank=min(n_rungs, 3),
                outcome_transform=StratifiedStandardize(
                    stratification_idx=k, all_task_values=torch.tensor(all_tasks)),
                input_transform=Normalize(k + 1, bounds=bounds, indices=list(range(k))),
                validate_task_values=False)
        fid = torch.tensor(data.rung_fidelity, dtype=DTYPE)
        bounds = torch.tensor(np.stack([np.append(lo, float(fid.min())),
                                        np.append(hi, float(fid.max()))]), dtype=DTYPE)
        return SingleTaskMultiFidelityGP(X, Y, data_fidelities=[k],
                                         input_transform=Normalize(k + 1, bounds=bounds),
                                         outcome_transform=Standardize(1))

    def fit(self, data: TrainingData, *, warm_start: bool = True,
            optimize: bool = True) -> MixtureSurrogate:
        """Fit to ``data``; start from the previous hyperparameters when shapes allow.

        ``optimize=False`` only loads the previous hyperparameters (used when resuming a study
        whose saved state was fitted on this same data, so it predicts exactly as before).
        """
        if data.n == 0:
            raise ValueError("cannot fit a surrogate without observations")
        model = self._build(data)
        if warm_start and self._state is not None:
            own = model.state_dict()
            compatible = {k: v for k, v in self._state.items()
                          if k in own and own[k].shape == v.shape and "outcome_transform" not in k
                          and "input_transform" not in k}
            model.load_state_dict(compatible, strict=False)
        if optimize:
            try:
                fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            except Exception:  # noqa: BLE001 - a failed warm start retries from the defaults
                model = self._build(data)
                fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        model.eval()
        self.model, self.data = model, data
        self._state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return self

    def state(self) -> dict[str, Tensor] | None:
        """Hyperparameters of the last fit (to persist and warm-start from)."""
        return None if self._state is None else dict(self._state)

    def restore(self, state: Mapping[str, Tensor]) -> None:
        self._state = dict(state)

    def _X(self, weights: np.ndarray, rung: np.ndarray | int) -> Tensor:
        assert self.data is not None
        weights = np.atleast_2d(weights)
        rung_arr = np.full(len(weights), rung) if np.isscalar(rung) else np.asarray(rung)
        return _inputs(weights, rung_arr, self.kind, self.data.rung_fidelity)

    def predict(self, weights: np.ndarray, rung: np.ndarray | int, *,
                observation_noise: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of f (or of y with ``observation_noise``) per point."""
        assert self.model is not None
        with torch.no_grad():
            post = self.model.posterior(self._X(weights, rung),
                                        observation_noise=observation_noise)
            return (post.mean.squeeze(-1).numpy().copy(),
                    post.variance.squeeze(-1).clamp_min(0).numpy().copy())

    def joint(self, weights: np.ndarray, rung: np.ndarray | int) -> tuple[Tensor, Tensor]:
        """Joint posterior mean (n,) and covariance (n, n) of f at the points."""
        assert self.model is not None
        with torch.no_grad():
            post = self.model.posterior(self._X(weights, rung))
            return post.mean.squeeze(-1), post.covariance_matrix

    def noise_variance(self, weights: np.ndarray, rung: np.ndarray | int) -> np.ndarray:
        """Observation-noise variance per point, in objective units."""
        _, var_f = self.predict(weights, rung)
        _, var_y = self.predict(weights, rung, observation_noise=True)
        return np.clip(var_y - var_f, 1e-12, None)

    def rung_correlation(self) -> np.ndarray | None:
        """Learned correlation between rungs (ICM only), for reports."""
        if not isinstance(self.model, MultiTaskGP):
            return None
        index_kernels = [m for m in self.model.covar_module.modules()
                         if hasattr(m, "covar_matrix")]
        if not index_kernels:
            return None
        with torch.no_grad():
            cov = index_kernels[0].covar_matrix.to_dense()
            d = torch.sqrt(torch.diagonal(cov))
            return (cov / d.unsqueeze(0) / d.unsqueeze(1)).numpy()

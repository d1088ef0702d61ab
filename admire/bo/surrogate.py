"""Multi-fidelity GP surrogates over (mixture, rung), on BoTorch.

Two models share one interface:

* ``icm`` (default): a BoTorch ``MultiTaskGP``: an intrinsic-coregionalisation kernel, a learned
  rung-by-rung covariance times a kernel over the weights, on per-rung standardised objectives
  (:class:`RungScaling`). Rungs sit at very different objective levels (0.33 at 0.5B vs 0.59
  at 7B on ADMIRE IFT Runs) and correlate only moderately, which the ICM learns directly.
* ``mfgp``: ``SingleTaskMultiFidelityGP`` with the numeric fidelity as a data-fidelity input
  (the paper's model), kept for comparison.

Hyperparameters are warm-started from the previous fit, which cuts fit time at every step.
Objective values are stored oriented for maximisation; :class:`Direction` handles the flip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import gpytorch
import numpy as np
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import MultiTaskGP, SingleTaskMultiFidelityGP
from botorch.models.kernels.positive_index import PositiveIndexKernel
from botorch.models.model import Model
from botorch.models.transforms.input import Normalize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.kernels import AdditiveKernel, Kernel, LinearKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior, NormalPrior, Prior
from torch import Tensor

from admire.bo.hyperparameters import HyperparameterDraws
from admire.bo.intervals import Z90
from admire.space import mixture_ids

DTYPE = torch.float64
KERNELS = ("rbf", "linear", "linear+rbf")
WARM_MAXITER = 50  # L-BFGS iterations when starting from the previous fit's hyperparameters
FIT_MAXITER = 100  # L-BFGS iterations from the default hyperparameters
EXACT_UP_TO = 10_000  # points up to which posteriors use a Cholesky, not GPyTorch's CG
# Priors on the observation-noise variance, in standardised units (a rung's spread = 1).
# lognormal: BoTorch's default, LogNormal(-4, 1) (median 0.018: runs nearly noise-free, so with
# few runs per rung and no replicates the GP interpolates seed noise); gamma: Gamma(1.1, 0.05),
# BoTorch's earlier default, nearly flat over 0..1.
# None: the model keeps BoTorch's own prior.
NOISE_PRIORS: dict[str, Callable[[], Prior] | None] = {
    "lognormal": None,
    "gamma": lambda: GammaPrior(1.1, 0.05),
}
RUNG_LOG_VARIANCE_SD = 0.7  # rung_scale="prior": a rung's variance within 2x of the pooled at 1 sd
MIN_LOO = 5  # leave-one-out z-scores needed at a rung to calibrate its intervals alone


class RungCorrelationKernel(PositiveIndexKernel):
    """BoTorch's positive rung covariance, normalised to a correlation matrix: every rung at
    the same (unit) variance, so a rung's spread over the simplex is the pooled one.

    A learned target variance comes from the target runs, and those cluster where the search
    confirms (on the suite's synthetic problems about 5x less spread than the target over the
    simplex), so the model would read the target as flat away from them."""

    def _eval_covar_matrix(self) -> Tensor:
        # The parent's matrix before its target-task rescaling, which the normalisation
        # below would cancel anyway (calling it would only change the fits' rounding).
        factor = self.covar_factor
        covar = factor @ factor.transpose(-1, -2) + torch.diag_embed(self.var)
        d = covar.diagonal(dim1=-1, dim2=-2).sqrt()
        return covar / d.unsqueeze(-1) / d.unsqueeze(-2)


class RungVarianceKernel(RungCorrelationKernel):
    """Rung correlations times a learned variance per rung, each with a log-normal prior
    around the pooled spread (sd :data:`RUNG_LOG_VARIANCE_SD` in log variance): a rung may
    spread more or less than the others where its runs show it, but a cluster of confirmations
    alone cannot make it flat or steep."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.register_parameter("log_variance",
                                torch.nn.Parameter(torch.zeros(*self.batch_shape, self.num_tasks)))
        self.register_prior("log_variance_prior", NormalPrior(0.0, RUNG_LOG_VARIANCE_SD),
                            "log_variance")

    def _eval_covar_matrix(self) -> Tensor:
        scale = torch.exp(0.5 * self.log_variance)
        return super()._eval_covar_matrix() * scale.unsqueeze(-1) * scale.unsqueeze(-2)


def _pooled_rung_variances(model: MultiTaskGP, task_feature: int, kernel: type) -> None:
    """Swap the model's rung kernel for ``kernel`` (same rank and correlation prior)."""
    product = model.covar_module
    old = product.kernels[1]
    product.kernels[1] = kernel(
        num_tasks=old.num_tasks, rank=old.raw_covar_factor.shape[-1],
        task_prior=old.IndexKernelPrior, active_dims=[task_feature]).to(DTYPE)


def exact() -> gpytorch.settings.max_cholesky_size:
    """Exact (Cholesky) linear algebra: GPyTorch switches to iterative solvers above 800
    points, which are slower and approximate at the sizes a study reaches."""
    return gpytorch.settings.max_cholesky_size(EXACT_UP_TO)


@dataclass(frozen=True)
class TrainingData:
    """Observations: weights (n, K), rung index (n,), numeric fidelity per rung, y (n,) to max.

    ``context`` (n, C), optional: covariates of each run (e.g. the data pool's state, see
    :mod:`admire.bo.pool_context`), extra kernel inputs next to the weights.
    """

    weights: np.ndarray
    rung: np.ndarray
    y: np.ndarray
    rung_fidelity: tuple[float, ...]
    context: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def k(self) -> int:
        return self.weights.shape[1]


@dataclass(frozen=True)
class RungScaling:
    """Per-rung standardisation: y_std = (y - mean[r]) / std[r].

    Rungs sit at very different levels, so each gets its own location and scale. A rung with
    fewer than three runs borrows the pooled within-rung scale, and an unseen rung the level of
    the nearest rung that has runs (a guess that only shifts its predictions, never reorders
    the mixtures within it).
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, y: np.ndarray, rung: np.ndarray, n_rungs: int,
            shared: bool = False, mixtures: np.ndarray | None = None) -> RungScaling:
        """``shared``: every rung gets the pooled within-rung scale (each keeps its own
        level), so the GP learns each rung's spread; a rung's own sample spread misleads when
        its runs cluster (confirmations near the optimum spread 5x less than the target over
        the simplex), shrinking the prior far from them.

        ``mixtures`` (an id per run) sets each rung's level by pairs: the reference rung's
        (the one with the most runs) mean plus the mean gap between the rung's runs and the
        reference's at the same mixtures. Runs confirmed at the target are the search's best,
        so their own mean is the level of the best region, and a GP reverting to it far from
        them predicts the rest of the simplex too good."""
        mean = np.full(n_rungs, np.nan)
        std = np.full(n_rungs, np.nan)
        residuals = []
        for r in range(n_rungs):
            values = y[rung == r]
            if len(values):
                mean[r] = values.mean()
                residuals.append(values - mean[r])
            if len(values) >= 3:
                std[r] = values.std(ddof=1)
        pooled = np.concatenate(residuals) if residuals else np.zeros(0)
        pooled_std = float(pooled.std(ddof=1)) if len(pooled) >= 3 else float("nan")
        if not np.isfinite(pooled_std) or pooled_std <= 0:
            pooled_std = float(np.abs(y).mean() * 0.1) if len(y) and np.abs(y).mean() > 0 else 1.0
        std = np.where(np.isfinite(std) & (std > 1e-9 * pooled_std) & (not shared), std,
                       pooled_std)
        if mixtures is not None:
            mean = _paired_levels(y, rung, mixtures, mean)
        seen = np.flatnonzero(np.isfinite(mean))
        for r in range(n_rungs):
            if not np.isfinite(mean[r]):
                mean[r] = mean[seen[np.argmin(np.abs(seen - r))]] if len(seen) else 0.0
        return cls(mean, std)

    def transform(self, y: np.ndarray, rung: np.ndarray) -> np.ndarray:
        return (y - self.mean[rung]) / self.std[rung]


def _paired_levels(y: np.ndarray, rung: np.ndarray, mixtures: np.ndarray,
                   mean: np.ndarray) -> np.ndarray:
    """Each rung's level as the reference rung's mean plus its mean gap to it at shared
    mixtures (unchanged where a rung shares none, or is the reference)."""
    counts = np.bincount(rung, minlength=len(mean))
    ref = int(np.argmax(counts))
    if counts[ref] < 3:
        return mean
    out = mean.copy()
    ref_mean = {m: y[(rung == ref) & (mixtures == m)].mean() for m in set(mixtures[rung == ref])}
    for r in range(len(mean)):
        if r == ref or not counts[r]:
            continue
        gaps = [y[(rung == r) & (mixtures == m)].mean() - ref_mean[m]
                for m in set(mixtures[rung == r]) if m in ref_mean]
        if gaps:
            out[r] = mean[ref] + float(np.mean(gaps))
    return out


# Maps prediction points (weights (m, K), rung (m,)) to their context (m, C): the covariates a
# run at that point would have under the state the surrogate predicts for.
ContextFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _inputs(weights: np.ndarray | Tensor, rung: np.ndarray | Tensor, kind: str,
            rung_fidelity: tuple[float, ...], context: np.ndarray | None = None) -> Tensor:
    w = torch.as_tensor(np.asarray(weights), dtype=DTYPE)
    if context is not None:
        w = torch.cat([w, torch.as_tensor(np.asarray(context), dtype=DTYPE)], dim=-1)
    r = torch.as_tensor(np.asarray(rung), dtype=torch.long)
    last = r.to(DTYPE) if kind == "icm" else torch.tensor(rung_fidelity, dtype=DTYPE)[r]
    return torch.cat([w, last.unsqueeze(-1)], dim=-1)


def _weight_kernel(kernel: str, k: int) -> Kernel | None:
    """The kernel over the K weights; None keeps BoTorch's default (ARD RBF, dim-scaled prior).

    "linear+rbf" adds a linear trend to the RBF: on the simplex a linear function of the weights
    already carries its intercept, and mixture effects are close to linear (a ridge fit on the
    0.5B runs of ADMIRE IFT Runs ranks the best 7B mixture 5th of 76), which an RBF in 19
    dimensions cannot extrapolate from a few dozen runs.
    """
    if kernel == "rbf":
        return None
    dims = torch.arange(k)
    if kernel == "linear":
        return LinearKernel(active_dims=dims)
    return AdditiveKernel(LinearKernel(active_dims=dims),
                          get_covar_module_with_dim_scaled_prior(ard_num_dims=k,
                                                                 active_dims=dims))


def conformal_scale(z: np.ndarray) -> float:
    """The widening that makes a Gaussian 90% interval hold 90% of these z-scores: their 90th
    percentile |z| over Z90, never below 1 (1 without any)."""
    return max(1.0, float(np.quantile(np.abs(z), 0.9)) / Z90) if len(z) else 1.0


class MixtureSurrogate:
    """A fitted multi-fidelity GP; predictions are at (mixture, rung index) pairs."""

    def __init__(self, kind: str = "icm", *, kernel: str = "rbf",
                 weight_bounds: tuple[np.ndarray, np.ndarray] | None = None,
                 rung_scale: str = "rung", rung_level: str = "runs",
                 noise_prior: str = "lognormal", context_fn: ContextFn | None = None) -> None:
        if kind not in ("icm", "mfgp"):
            raise ValueError(f"unknown surrogate {kind!r}")
        if kernel not in KERNELS or (kernel != "rbf" and kind != "icm"):
            raise ValueError(f"kernel {kernel!r} is not available for the {kind} surrogate")
        self.kind = kind
        self.kernel = kernel
        self.weight_bounds = weight_bounds
        self.rung_scale = rung_scale  # "rung": each rung's own spread; "shared": pooled;
        # "equal": pooled, and the GP holds every rung's variance equal (learns correlations);
        # "prior": pooled, each rung's variance learned under a prior around it
        self.rung_level = rung_level  # "runs": each rung's mean; "paired": see RungScaling
        if noise_prior not in NOISE_PRIORS:
            raise ValueError(f"unknown noise prior {noise_prior!r}")
        self.noise_prior = noise_prior  # see NOISE_PRIORS
        self.context_fn = context_fn  # required when the training data has a context
        self.model: Model | None = None
        self.data: TrainingData | None = None
        self._state: Mapping[str, Tensor] | None = None
        self.scaling: RungScaling | None = None
        self._draws: HyperparameterDraws | None = None

    def _build(self, data: TrainingData, scaling: RungScaling) -> Model:
        X = _inputs(data.weights, data.rung, self.kind, data.rung_fidelity, data.context)
        Y = torch.as_tensor(scaling.transform(data.y, data.rung), dtype=DTYPE).unsqueeze(-1)
        k = data.k
        lo, hi = (self.weight_bounds if self.weight_bounds is not None
                  else (np.zeros(k), np.ones(k)))
        if data.context is not None:  # context columns scaled by their training range, at
            c_lo, c_hi = data.context.min(axis=0), data.context.max(axis=0)  # least one unit
            lo, hi = np.append(lo, c_lo), np.append(hi, np.maximum(c_hi, c_lo + 1.0))
            k = len(lo)
        n_rungs = len(data.rung_fidelity)
        if self.kind == "icm":
            bounds = torch.tensor(np.stack([np.append(lo, 0.0), np.append(hi, 1.0)]), dtype=DTYPE)
            model = MultiTaskGP(
                X, Y, task_feature=k, all_tasks=list(range(n_rungs)), rank=min(n_rungs, 3),
                covar_module=_weight_kernel(self.kernel, k), outcome_transform=None,
                input_transform=Normalize(k + 1, bounds=bounds, indices=list(range(k))),
                validate_task_values=False)
            if self.rung_scale in ("equal", "prior"):
                _pooled_rung_variances(model, k, RungCorrelationKernel
                                       if self.rung_scale == "equal" else RungVarianceKernel)
            return self._with_noise_prior(model)
        fid = torch.tensor(data.rung_fidelity, dtype=DTYPE)
        bounds = torch.tensor(np.stack([np.append(lo, float(fid.min())),
                                        np.append(hi, float(fid.max()))]), dtype=DTYPE)
        return self._with_noise_prior(SingleTaskMultiFidelityGP(
            X, Y, data_fidelities=[k], input_transform=Normalize(k + 1, bounds=bounds),
            outcome_transform=None))

    def _with_noise_prior(self, model: Model) -> Model:
        """``model`` with :data:`NOISE_PRIORS`' prior on its noise variance (BoTorch's own
        where that is None)."""
        make = NOISE_PRIORS[self.noise_prior]
        if make is not None:
            model.likelihood.noise_covar.register_prior(
                "noise_prior", make(), lambda m: m.noise, lambda m, v: m._set_noise(v))
        return model

    def fit(self, data: TrainingData, *, optimize: bool = True,
            fit_data: TrainingData | None = None) -> MixtureSurrogate:
        """Condition on ``data``; with ``optimize``, first fit the hyperparameters on
        ``fit_data`` (default: ``data``), starting from the previous ones when shapes allow.

        ``optimize=False`` keeps the current hyperparameters (a study between refits, or one
        resumed from a state fitted on this same data, which then predicts exactly as before).
        The fit is capped (:data:`FIT_MAXITER`, :data:`WARM_MAXITER` iterations): the marginal
        likelihood is flat along irrelevant lengthscales, and an uncapped L-BFGS spends
        thousands of evaluations there for a few hundredths of a nat per point.
        """
        if data.n == 0:
            raise ValueError("cannot fit a surrogate without observations")
        mixtures = mixture_ids(data.weights) if self.rung_level == "paired" else None
        self.scaling = RungScaling.fit(data.y, data.rung, len(data.rung_fidelity),
                                       shared=self.rung_scale != "rung", mixtures=mixtures)
        if optimize:
            self._state = self._optimized(fit_data or data)
        model = self._build(data, self.scaling)
        self._load(model)
        model.eval()
        self.model, self.data, self._draws = model, data, None
        self._state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return self

    def _load(self, model: Model) -> bool:
        """Load the saved hyperparameters that fit ``model``; False when there are none."""
        if self._state is None:
            return False
        own = model.state_dict()
        compatible = {k: v for k, v in self._state.items()
                      if k in own and own[k].shape == v.shape and "outcome_transform" not in k
                      and "input_transform" not in k}
        model.load_state_dict(compatible, strict=False)
        return bool(compatible)

    def _optimized(self, data: TrainingData) -> dict[str, Tensor]:
        """Hyperparameters fitted on ``data`` by maximum marginal likelihood."""
        assert self.scaling is not None
        model = self._build(data, self.scaling)
        warm = self._load(model)
        options = {"optimizer_kwargs": {"options": {
            "maxiter": WARM_MAXITER if warm else FIT_MAXITER}}}
        try:
            with exact():
                fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model), **options)
        except Exception:  # noqa: BLE001 - a failed warm start retries from the defaults
            model = self._build(data, self.scaling)
            with exact():
                fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model),
                                 optimizer_kwargs={"options": {"maxiter": FIT_MAXITER}})
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    def with_pending(self, weights: np.ndarray, rung: np.ndarray) -> MixtureSurrogate:
        """A copy conditioned on pending points at their posterior mean (kriging believer), so
        a batch of proposals spreads out instead of piling onto one point."""
        assert self.model is not None
        if len(weights) == 0:
            return self
        X = self._X(weights, rung)
        with torch.no_grad(), exact():
            mean = self.model.posterior(X).mean
        believer = MixtureSurrogate(self.kind, kernel=self.kernel,
                                    weight_bounds=self.weight_bounds, rung_scale=self.rung_scale,
                                    rung_level=self.rung_level, noise_prior=self.noise_prior,
                                    context_fn=self.context_fn)
        with exact():
            believer.model = self.model.condition_on_observations(
                self.model.transform_inputs(X), mean)
        believer.model.eval()
        believer.data, believer.scaling, believer._state = self.data, self.scaling, self._state
        return believer

    def state(self) -> dict[str, Tensor] | None:
        """Hyperparameters of the last fit (to persist and warm-start from)."""
        return None if self._state is None else dict(self._state)

    def restore(self, state: Mapping[str, Tensor]) -> None:
        self._state = dict(state)

    def _rungs(self, weights: np.ndarray, rung: np.ndarray | int) -> np.ndarray:
        n = len(np.atleast_2d(weights))
        return np.full(n, rung, dtype=int) if np.isscalar(rung) else np.asarray(rung, dtype=int)

    def _X(self, weights: np.ndarray, rung: np.ndarray | int) -> Tensor:
        assert self.data is not None
        weights, rungs = np.atleast_2d(weights), self._rungs(weights, rung)
        context = None
        if self.data.context is not None:
            if self.context_fn is None:
                raise ValueError("a surrogate fitted with a context needs context_fn to predict")
            context = self.context_fn(weights, rungs)
        return _inputs(weights, rungs, self.kind, self.data.rung_fidelity, context)

    def predict(self, weights: np.ndarray, rung: np.ndarray | int, *,
                observation_noise: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of f (or of y with ``observation_noise``) per point,
        in objective units."""
        rungs = self._rungs(weights, rung)
        return self._moments(self._X(weights, rungs), rungs, observation_noise)

    def predict_widened(self, weights: np.ndarray, rung: np.ndarray | int, *,
                        observation_noise: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict`'s mean, with a variance that also carries the hyperparameters'
        uncertainty (:mod:`admire.bo.hyperparameters`): for intervals, never for ranking."""
        rungs = self._rungs(weights, rung)
        X = self._X(weights, rungs)
        mean, var, _ = self.hyperparameter_draws().widen(
            lambda: self._moments(X, rungs, observation_noise))
        return mean, var

    def hyperparameter_draws(self) -> HyperparameterDraws:
        """Seeded draws around this fit's hyperparameters (made once per fit)."""
        assert self.model is not None
        if self._draws is None:
            self._draws = HyperparameterDraws(self.model, self._prior_marginal)
        return self._draws

    def predict_training(self) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of f at the training points, each with its own context
        (not ``context_fn``'s): the reference an extrapolation is measured against."""
        assert self.data is not None
        return self._moments(self._training_X(), self.data.rung)

    def _training_X(self) -> Tensor:
        assert self.data is not None
        d = self.data
        return _inputs(d.weights, d.rung, self.kind, d.rung_fidelity, d.context)

    def _moments(self, X: Tensor, rungs: np.ndarray, observation_noise: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
        assert self.model is not None and self.scaling is not None
        with torch.no_grad(), exact():
            post = self.model.posterior(X, observation_noise=observation_noise)
            mean = post.mean.squeeze(-1).numpy()
            var = post.variance.squeeze(-1).clamp_min(0).numpy()
        std = self.scaling.std[rungs]
        return mean * std + self.scaling.mean[rungs], var * std**2

    def predict_mean(self, weights: np.ndarray, rung: np.ndarray | int) -> np.ndarray:
        """Posterior mean of f per point, in objective units, without the variances (whose
        cache costs an extra O(n^3) at every new observation)."""
        assert self.model is not None and self.scaling is not None
        rungs = self._rungs(weights, rung)
        with torch.no_grad(), exact(), gpytorch.settings.skip_posterior_variances():
            mean = self.model.posterior(self._X(weights, rungs)).mean.squeeze(-1).numpy()
        return mean * self.scaling.std[rungs] + self.scaling.mean[rungs]

    def joint(self, weights: np.ndarray, rung: np.ndarray | int) -> tuple[Tensor, Tensor]:
        """Joint posterior mean (n,) and covariance (n, n) of f, in objective units."""
        assert self.model is not None and self.scaling is not None
        rungs = self._rungs(weights, rung)
        with torch.no_grad(), exact():
            post = self.model.posterior(self._X(weights, rungs))
            std = torch.as_tensor(self.scaling.std[rungs], dtype=DTYPE)
            mean = post.mean.squeeze(-1) * std + torch.as_tensor(self.scaling.mean[rungs],
                                                                dtype=DTYPE)
            return mean, post.covariance_matrix * std.unsqueeze(-1) * std.unsqueeze(0)

    def noise_variance(self, weights: np.ndarray, rung: np.ndarray | int) -> np.ndarray:
        """Observation-noise variance per point, in objective units (read off the likelihood:
        one noise level per rung for the ICM, one for all for the multi-fidelity GP)."""
        assert self.model is not None and self.scaling is not None
        rungs = self._rungs(weights, rung)
        with torch.no_grad():
            noise = self.model.likelihood.noise.detach().reshape(-1).numpy()
        per_point = noise[rungs] if len(noise) > 1 else np.full(len(rungs), noise[0])
        return np.clip(per_point * self.scaling.std[rungs] ** 2, 1e-12, None)

    def loo(self, rung: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Leave-one-mixture-out residuals of the observations at ``rung`` (None: every rung):
        each value predicted with every observation of its mixture left out (at all rungs: a
        mixture the model has not seen at all), hyperparameters fixed. Returns (index into the
        training data, residual y - mu, sd of a new run), in standardised units."""
        assert self.data is not None
        wanted = (np.arange(self.data.n) if rung is None
                  else np.flatnonzero(self.data.rung == rung))
        ids = mixture_ids(self.data.weights)
        residual, sd = self._left_out(wanted, [np.flatnonzero(ids == ids[i]) for i in wanted])
        return wanted, residual, sd

    def prequential_z(self, rung: int, order: np.ndarray | None = None, *,
                      widened: bool = False) -> np.ndarray:
        """Each run at ``rung`` predicted from the runs recorded before it (``order``: each
        training run's position in time, default the data's order), with its own mixture's
        runs left out too, hyperparameters fixed; z-scores as :meth:`loo_z`.

        A study chooses its target runs where the model expects the best, so these are the
        out-of-sample errors of the predictions it acted on, winner's curse included: the
        reference for the interval of a mixture the study recommends. ``widened``: the sd
        also carries the hyperparameters' uncertainty, as :meth:`predict_widened`."""
        assert self.data is not None
        order = np.arange(self.data.n) if order is None else np.asarray(order)
        wanted = np.flatnonzero(self.data.rung == rung)
        ids = mixture_ids(self.data.weights)
        blocks = [np.flatnonzero((ids == ids[i]) | (order >= order[i])) for i in wanted]
        return self.left_out_z(wanted, blocks, widened=widened)

    def left_out_z(self, wanted: np.ndarray, blocks: list[np.ndarray], *,
                   widened: bool = False) -> np.ndarray:
        """z-score of each wanted training run predicted with its block (index array, holding
        it) left out, hyperparameters fixed; ``widened``: the sd also carries the
        hyperparameters' uncertainty, as :meth:`predict_widened`."""
        if not widened:
            residual, sd = self._left_out(wanted, blocks)
            return residual / sd

        def moments() -> tuple[np.ndarray, np.ndarray]:
            residual, sd = self._left_out(wanted, blocks)
            return residual, sd ** 2

        residual, var, _ = self.hyperparameter_draws().widen(moments)
        return residual / np.sqrt(var)

    def _prior_marginal(self) -> tuple[Tensor, Tensor]:
        """Prior mean and covariance, noise included, of the training targets (standardised)
        under the current hyperparameters."""
        assert self.model is not None
        X = self.model.transform_inputs(self._training_X())
        with torch.no_grad(), exact():
            prior = self.model.likelihood(self.model.forward(X), [X]) if self.kind == "icm" \
                else self.model.likelihood(self.model.forward(X))
            # copies: the constant mean's is a view of its parameter, which draws overwrite
            return prior.mean.reshape(-1).clone(), prior.covariance_matrix.clone()

    def _left_out(self, wanted: np.ndarray, blocks: list[np.ndarray]
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Residual and new-run sd of each wanted run predicted with its block (index array,
        holding it) left out, in standardised units.

        Closed form (Rasmussen and Williams 5.4.2, for a block B of left-out points): with
        a = K^-1 (y - m), the residuals are (K^-1)_BB^-1 a_B with covariance (K^-1)_BB^-1; one
        factorisation serves every block."""
        assert self.model is not None
        if not len(wanted):
            return np.zeros(0), np.zeros(0)
        mean, cov = self._prior_marginal()
        with torch.no_grad(), exact():
            residual = self.model.train_targets.reshape(-1) - mean
            inverse = torch.cholesky_inverse(torch.linalg.cholesky(cov))
            alpha = inverse @ residual
            residuals, sds = [], []
            for i, block in zip(wanted, blocks, strict=True):
                index = torch.as_tensor(block, dtype=torch.long)
                cov = torch.linalg.inv(inverse[index][:, index])
                r = cov @ alpha[index]
                k = int(np.flatnonzero(block == i)[0])
                residuals.append(float(r[k]))
                sds.append(float(torch.sqrt(cov[k, k])))
        return np.array(residuals), np.array(sds)

    def without_own_runs(self, weights: np.ndarray, rung: int) -> tuple[float, float] | None:
        """Posterior mean and variance of f at a mixture the model has runs of at ``rung``,
        predicted with every run of that mixture left out (hyperparameters fixed), in objective
        units; None where it has none there.

        A recommendation is the run mixture with the best posterior mean, which its own lucky
        runs raise (the winner's curse); this is the same prediction without them."""
        assert self.data is not None and self.model is not None and self.scaling is not None
        ids = mixture_ids(np.vstack([self.data.weights, np.atleast_2d(weights)]))
        block = np.flatnonzero(ids[:-1] == ids[-1])
        wanted = block[self.data.rung[block] == rung]
        if not len(wanted):
            return None
        residual, sd = self._left_out(wanted[:1], [block])
        std, level = self.scaling.std[rung], self.scaling.mean[rung]
        noise = self.noise_variance(np.atleast_2d(weights), rung)[0] / std ** 2
        mean = float(self.model.train_targets.reshape(-1)[wanted[0]]) - residual[0]
        return float(mean * std + level), float(max(sd[0] ** 2 - noise, 0.0) * std ** 2)

    def loo_z(self, rung: int | None = None) -> np.ndarray:
        """Leave-one-mixture-out z-scores (:meth:`loo`'s residual over its sd). A calibrated
        model gives z-scores of unit spread; larger ones mean its intervals are too narrow for
        mixtures it has not seen."""
        _, residual, sd = self.loo(rung)
        return residual / sd

    def interval_scale(self, rung: int) -> float:
        """How much to widen the model's predictive sd at ``rung`` for a 90% interval that
        covers 90% of runs it has not seen: the 90th percentile of the leave-one-out |z| at
        that rung (every rung's, while it has fewer than :data:`MIN_LOO` runs) over the
        Gaussian's 1.645, never below 1 (a split-conformal correction; the GP's marginal
        likelihood makes it overconfident away from its data)."""
        assert self.data is not None
        every = self.loo_z()  # one factorisation for the rung's z-scores and the fallback
        z = every[self.data.rung == rung] if len(every) else every
        if len(z) < MIN_LOO:
            z = every
        if len(z) < MIN_LOO:
            return 1.0
        return conformal_scale(z)

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

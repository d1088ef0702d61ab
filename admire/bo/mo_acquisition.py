"""qLogNEHVI at the target rung on one multi-fidelity GP per outcome, as BoTorch composes it.

Each :class:`MixtureSurrogate` models one outcome (oriented for maximisation) over (weights,
rung) on per-rung standardised values. The acquisition sees them as a ``ModelListGP``; the rung
column is fixed at the target (``FixedFeatureAcquisitionFunction``), the objective maps each
sample back to the outcome's own units (so the reference point is in those units), and each
outcome constraint is a BoTorch ``constraints=`` callable (negative = feasible).

BoTorch's qLogNEHVI JIT-compiles a fused C++ kernel the first time it is built in a process
whose torch-extensions cache lacks it (ninja and a compiler; ``-march=native``). That cost 43-45 s
on the first multi-objective proposal of every fresh machine, cluster head or CI run, and a
cache shared across node types could hand one CPU another's instructions. The pure-PyTorch path
gave the same proposals at the same speed at admire's sizes (``bench/nehvi_kernel.py``), so
admire keeps BoTorch on it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from botorch.acquisition.fixed_feature import FixedFeatureAcquisitionFunction
from botorch.acquisition.multi_objective import logei
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.acquisition.multi_objective.objective import GenericMCMultiOutputObjective
from botorch.models import ModelListGP
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.multi_objective.hypervolume import infer_reference_point
from linear_operator.utils.warnings import NumericalWarning
from torch import Tensor

from admire.bo.outcomes import OutcomeSpec
from admire.bo.seeding import torch_seeded
from admire.bo.surrogate import DTYPE, MixtureSurrogate, exact

BATCH = 256  # candidates scored per call of the acquisition
# The one jitter warning hidden: the smallest linear_operator tries (see tiny_jitter_quiet).
TINY_JITTER = r"A not p\.d\., added jitter of 1\.0e-08 to the diagonal"


@contextmanager
def tiny_jitter_quiet() -> Iterator[None]:
    """qLogNEHVI samples the joint posterior of the mixtures run at the target (and of each
    candidate beside them); mixtures close together make that covariance positive definite
    only up to rounding, so linear_operator adds 1e-8 to its diagonal and warns (9 times in
    the notebook's two-objective study). That changes no sample at the outcomes' scale; a
    larger jitter, a sign of a real problem, still warns."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=TINY_JITTER, category=NumericalWarning)
        yield


def skip_fused_kernel() -> None:
    """Mark BoTorch's fused-kernel load as already tried, so it stays on pure PyTorch."""
    if hasattr(logei, "_load_attempted") and getattr(logei, "_C", None) is None:
        logei._load_attempted = True


skip_fused_kernel()


def _affine(surrogates: Sequence[MixtureSurrogate], rung: int) -> tuple[Tensor, Tensor]:
    """Per outcome (location, scale) at ``rung``: oriented value = sample * scale + location."""
    loc = torch.tensor([s.scaling.mean[rung] for s in surrogates], dtype=DTYPE)  # type: ignore[union-attr]
    scale = torch.tensor([s.scaling.std[rung] for s in surrogates], dtype=DTYPE)  # type: ignore[union-attr]
    return loc, scale


def _constraints(spec: OutcomeSpec, loc: Tensor, scale: Tensor) -> list[Callable[[Tensor], Tensor]]:
    """One callable per bound, on model samples (..., m): <= 0 where the bound holds."""
    signs = torch.as_tensor(spec.signs, dtype=DTYPE)
    out: list[Callable[[Tensor], Tensor]] = []
    for bound in spec.bounds:
        j = bound.index

        def raw(z: Tensor, j: int = j) -> Tensor:
            return signs[j] * (z[..., j] * scale[j] + loc[j])

        if bound.lower is not None:
            out.append(lambda z, raw=raw, c=bound.lower: c - raw(z))
        if bound.upper is not None:
            out.append(lambda z, raw=raw, c=bound.upper: raw(z) - c)
    return out


def target_nehvi(surrogates: Sequence[MixtureSurrogate], spec: OutcomeSpec, target: int,
                 baseline: np.ndarray, pending: np.ndarray, *, mc_samples: int, seed: int
                 ) -> FixedFeatureAcquisitionFunction:
    """qLogNEHVI of new target-rung runs, on inputs (b, q, K) of weights.

    ``baseline`` (n, K): mixtures already run (at any rung; their target values are what the
    model believes), ``pending`` (p, K): target runs in flight. The reference point is BoTorch's
    default inferred from the predicted Pareto front of the baseline.
    """
    k = baseline.shape[1]
    model = ModelListGP(*[s.model for s in surrogates])  # type: ignore[misc]
    loc, scale = _affine(surrogates, target)
    n_obj = spec.n_objectives

    def at_target(weights: np.ndarray) -> Tensor:
        w = torch.as_tensor(weights, dtype=DTYPE)
        return torch.cat([w, torch.full((len(w), 1), float(target), dtype=DTYPE)], dim=-1)

    def objective(samples: Tensor, X: Tensor | None = None) -> Tensor:
        return samples[..., :n_obj] * scale[:n_obj] + loc[:n_obj]

    X_baseline = at_target(baseline)
    with torch.no_grad(), exact():
        means = objective(model.posterior(X_baseline).mean)
    feasible = torch.ones(len(means), dtype=torch.bool)
    if spec.bounds:
        raw = torch.as_tensor(spec.signs, dtype=DTYPE) * (
            model.posterior(X_baseline).mean.detach() * scale + loc)
        feasible = torch.as_tensor(spec.feasible(raw.numpy()))
    front = means[feasible] if feasible.any() else means
    ref_point = infer_reference_point(front)
    # Pruning the baseline samples the posterior with torch's global generator: seed it, or
    # the same history gives different proposals from one process to the next.
    with exact(), torch_seeded(seed), tiny_jitter_quiet():
        acqf = qLogNoisyExpectedHypervolumeImprovement(
            model=model, ref_point=ref_point.tolist(), X_baseline=X_baseline,
            sampler=SobolQMCNormalSampler(torch.Size([mc_samples]), seed=seed),
            objective=GenericMCMultiOutputObjective(objective),
            constraints=_constraints(spec, loc, scale) or None,
            X_pending=at_target(pending) if len(pending) else None,
            prune_baseline=True, cache_root=False)
    return FixedFeatureAcquisitionFunction(acqf, d=k + 1, columns=[k], values=[float(target)])


def score(acqf: FixedFeatureAcquisitionFunction, weights: np.ndarray) -> np.ndarray:
    """The acquisition value of each mixture as a batch of one (n,)."""
    out = []
    with torch.no_grad(), exact(), tiny_jitter_quiet():
        for start in range(0, len(weights), BATCH):
            X = torch.as_tensor(weights[start:start + BATCH], dtype=DTYPE).unsqueeze(1)
            out.append(acqf(X).numpy())
    return np.concatenate(out) if out else np.zeros(0)

"""Typed, validated options of every policy (pydantic models; light to import).

Each policy declares one options model; unknown options and bad values are errors that name the
option and list the valid ones, whether they come from a study config's ``[policy]`` table or a
``--methods`` spec such as ``kg:kernel=linear``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    import numpy as np

    from admire.bo.surrogate import ContextFn, MixtureSurrogate


class PolicyOptions(BaseModel):
    """Base of every policy's options: frozen, and unknown fields are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class NoOptions(PolicyOptions):
    """A policy without options."""


class ModelOptions(PolicyOptions):
    """Options of a policy built on admire's multi-fidelity GP."""

    surrogate: Literal["icm", "mfgp"] = Field(
        "icm", description="icm: a multi-task GP (learned rung-by-rung covariance); mfgp: "
                           "BoTorch's SingleTaskMultiFidelityGP (the paper's model)")
    kernel: Literal["rbf", "linear", "linear+rbf"] = Field(
        "rbf", description="kernel over the weights (icm only)")
    rung_scale: Literal["rung", "shared", "equal", "prior"] = Field(
        "prior", description="prior: standardise every rung by the pooled within-rung spread "
                             "and learn each rung's variance under a log-normal prior around "
                             "it (a target run near the optimum does not set the target's "
                             "spread alone; bench/results/suite_b10_prior10.md, "
                             "live_synthetic_auto.md); rung: each rung by its own spread; "
                             "shared: pooled, the GP learns each rung's freely; equal: pooled, "
                             "only correlations learned (calibration_equal.md)")
    rung_level: Literal["runs", "paired"] = Field(
        "runs", description="each rung's level: the mean of its runs, or the most-run rung's "
                            "mean plus the rung's mean gap to it at the same mixtures")
    noise_prior: Literal["lognormal", "gamma"] = Field(
        "lognormal", description="prior on each rung's seed-noise variance (standardised): "
                                 "lognormal: BoTorch's default, nearly noise-free runs; gamma: "
                                 "Gamma(1.1, 0.05), nearly flat, so noise that is a large "
                                 "part of a rung's spread is learned as noise. gamma loses "
                                 "across the suite (mean rank at 10 units 1.81 against 1.19, "
                                 "bench/results/suite_b10_noise.md) and on k5-face live "
                                 "(live_synthetic_noise_paired.md)")
    input_scale: Literal["weights", "range"] = Field(
        "weights", description="weights as they are, or each rescaled to [0, 1] over the "
                               "candidates")
    recommend_from: Literal["observed", "all"] = Field(
        "observed", description="recommend among the mixtures run at the target once there "
                                "are any (and, warm-started, the earlier runs' pick), or "
                                "among every candidate mixture")
    recommend_prior: bool = Field(
        True, description="warm-started: the earlier runs' pick stays among the mixtures "
                          "recommended from once the study has target runs")
    caution: float = Field(0.0, ge=0, description="recommend the best mean - caution * sd")
    initial_trials: int = Field(1, ge=0, description="space-filling start points at the "
                                                     "cheapest rung before any model is used")

    @classmethod
    def of(cls, options: PolicyOptions) -> ModelOptions:
        """A policy's model options; the default model's for a policy without one (a study
        run by a baseline is still explained, or recommended for a new pool, by a model)."""
        return options if isinstance(options, ModelOptions) else cls()

    def input_bounds(self, lower: np.ndarray, upper: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray] | None:
        """The range weights are scaled by: None keeps raw weights (``input_scale =
        "weights"``); with "range", ``lower``..``upper``, at least 1e-6 wide per domain."""
        if self.input_scale == "weights":
            return None
        import numpy as np

        return lower, np.maximum(upper, lower + 1e-6)

    def build_surrogate(self, weight_bounds: tuple[np.ndarray, np.ndarray] | None = None,
                        context_fn: ContextFn | None = None) -> MixtureSurrogate:
        """The (unfitted) surrogate these options describe; every model-based path builds
        it here, so a study, its explanation, several-objective fits and a recommendation
        for a new pool (``context_fn``: its pool features) share one model."""
        from admire.bo.surrogate import MixtureSurrogate  # torch: loaded only when fitting

        return MixtureSurrogate(self.surrogate, kernel=self.kernel, weight_bounds=weight_bounds,
                                rung_scale=self.rung_scale, rung_level=self.rung_level,
                                noise_prior=self.noise_prior, context_fn=context_fn)

    @model_validator(mode="after")
    def _kernel_needs_icm(self) -> ModelOptions:
        if self.kernel != "rbf" and self.surrogate != "icm":
            raise ValueError(f"kernel {self.kernel!r} needs surrogate 'icm'")
        return self


class ScreenConfirmOptions(ModelOptions):
    """Screen at a cheaper rung with a share of the budget, then confirm at the target."""

    screen: Literal["share", "value"] = Field(
        "share", description="share: proxy_share of the budget at the cheapest rung; value: "
                             "proxy_share * (1 - c / rho^2) at the rung with the most "
                             "information per cost, none where a cheap run is not worth it")
    confirm: Literal["auto", "mean", "ei"] = Field(
        "auto", description="target runs go to the best posterior mean, or the best expected "
                            "improvement; auto: the mean in a pool (replay), expected "
                            "improvement live (continuous mode), where target runs at the "
                            "best mean pile up where the cheap screens point and the target "
                            "is never measured elsewhere (bench/results/"
                            "live_synthetic_auto.md)")
    proxy_share: float = Field(0.1, ge=0, le=1, description="share of the budget spent below "
                                                            "the target rung (the cap, for "
                                                            "screen = value)")
    prior_correlation: float = Field(0.6, gt=0, lt=1, description="assumed correlation of a "
                                                                  "cheaper rung with the "
                                                                  "target before any pair is "
                                                                  "observed")
    prior_screens: Literal["space-filling", "favourites", "none"] = Field(
        "none", description="with earlier studies' runs (warm_start): not at all (and no "
                            "start design: the earlier runs fit the model, target runs from "
                            "the first trial), space-filling mixtures as a fresh study does, "
                            "or the model's favourites (the open mixtures with the best "
                            "target mean, a cheap look before a target run). Cheap screens "
                            "move a warm-started model away from what the earlier target "
                            "runs established: without them the warm-started arms end on "
                            "a lower regret in every synthetic reuse scenario and save more "
                            "in most (bench/results/reuse_replay_continuous_b30*.md, "
                            "reuse_replay_continuous_k8_b30*.md, reuse_replay*.md)")
    target_design: int = Field(
        0, ge=0, description="the study's first target runs at random mixtures (seeded; in a "
                             "pool, random rows with a target value), not chosen for their "
                             "promise: they show the model how the target differs from the "
                             "cheap rungs away from the optimum, which the confirmations "
                             "alone never do; more calibrated intervals away from the "
                             "study's runs, at some regret (bench/results/"
                             "calibration_design4.md, suite_b10_design.md); target runs "
                             "already made, the references included, count")


class ReuseOptions(ScreenConfirmOptions):
    """Reuse: search only the domains an update split or added, the rest frozen at the
    previous study's best mixture."""

    focus_share: float = Field(0.5, gt=0, le=1, description="pool mode: share of the target "
                                                             "mixtures, closest to the reuse "
                                                             "subspace, kept as candidates")
    initial_trials: int = Field(0, ge=0, description="space-filling start points at the "
                                                     "cheapest rung before any model is used "
                                                     "(the earlier studies' runs already "
                                                     "fit one)")
    focus: Literal["anchor", "random"] = Field(
        "anchor", description="pool mode: keep the target mixtures closest to the reuse "
                              "subspace, or a seeded random share of them (a control: does "
                              "the earlier best's shares, or only a smaller pool, help?)")


class KnowledgeGradientOptions(ModelOptions):
    """Every run chosen by a cost-aware multi-fidelity acquisition."""

    kg_targets: Literal["all", "recommendable"] = Field(
        "all", description="target mixtures whose best posterior mean KG values")
    cost_intercept: float = Field(0.0, ge=0, description="added to each rung's relative cost")
    proxy_share: float | None = Field(0.1, ge=0, le=1, description="cap on the budget share "
                                                                   "below the target (none: "
                                                                   "no cap)")


class OlmixOptions(PolicyOptions):
    """Olmix: a swarm at the cheapest rung, a log-linear fit, a KL-penalised proposal."""

    swarm_share: float = Field(0.5, ge=0, le=1, description="share of the budget spent on the "
                                                            "swarm at the cheapest rung")
    kl_weight: float = Field(1.0, ge=0, description="KL(w || prior) penalty, in swarm standard "
                                                    "deviations of the objective per nat")
    prior: Literal["natural", "uniform"] = Field(
        "natural", description="natural: the mean of the candidate mixtures (uniform without "
                               "a pool); uniform: equal weights within the bounds")


class HyperbandOptions(PolicyOptions):
    """Hyperband: brackets of successive halving across the rungs."""

    eta: int = Field(3, ge=2, description="keep the top 1/eta of a rung for the next rung")


class MultiObjectiveOptions(ModelOptions):
    """Multi-objective BO: a cheap-rung screen share, then qLogNEHVI at the target rung."""

    initial_trials: int = Field(2, ge=0, description="space-filling start points (at the "
                                                     "cheapest rung, or the target without a "
                                                     "screen) before any model is used")
    screen_share: float = Field(0.1, ge=0, le=1, description="share of the budget spent at "
                                                             "the cheapest rung; 0: single "
                                                             "fidelity (target rung only)")
    tradeoff: dict[str, float] | None = Field(
        None, description="weight per objective of the recommended trade-off (default equal)")
    scalarization: Literal["linear", "chebyshev"] = Field(
        "linear", description="linear: weighted sum of standardised objectives; chebyshev: "
                              "BoTorch's Chebyshev scalarisation")
    mc_samples: int = Field(128, ge=16, le=4096, description="MC samples of qLogNEHVI")

    @model_validator(mode="after")
    def _weights_positive(self) -> MultiObjectiveOptions:
        if self.tradeoff is not None and (any(w < 0 for w in self.tradeoff.values())
                                          or sum(self.tradeoff.values()) <= 0):
            raise ValueError("tradeoff weights must be >= 0 with a positive sum")
        return self

"""``admire recommend DIR --pool new-pool.toml``: the best mixture for a new data pool.

The study's runs, each with its pool covariates (recorded ``pool:`` columns, or computed from
``--runs-pool`` for tables recorded without them), fit a GP with the pool features as kernel
inputs (:mod:`admire.bo.pool_context`); the recommendation maximises its posterior mean at the
target rung under the new pool, and says how far that extrapolates. A pool file:

    tokens = { code = 2.0e6, math = 5.0e5, scripture = 8.0e5 }   # train tokens per domain
    # or: max_bytes = 400_000   (the study's built-in corpora at that size, tokenized)
    [train_tokens]              # optional: training tokens per rung (default: the ladder's)
    tiny = 65_536
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from admire.bo.acquisition import best_predicted
from admire.bo.intervals import Z90
from admire.bo.policies.options import ModelOptions
from admire.bo.pool_context import (
    Features,
    PoolState,
    context_fn,
    covariates_from_table,
    extrapolation,
    feature_names,
    training_data,
)
from admire.bo.reach import withheld_note
from admire.bo.seeding import derive_seed, torch_seeded
from admire.bo.surrogate import ContextFn, MixtureSurrogate
from admire.errors import AdmireError, ConfigError
from admire.io import atomic_write
from admire.proxy.sampler import weight_upper_bounds
from admire.schema import runs
from admire.study import Study

POOL_FIELDS = ("tokens", "max_bytes", "train_tokens")
N_CANDIDATES = 4096


def _number(value: Any, where: str, *, integer: bool = False) -> float:
    ok = (not isinstance(value, bool) and isinstance(value, int | float)
          and math.isfinite(value) and value > 0 and (not integer or value == int(value)))
    if not ok:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"must be {kind} > 0, got {value!r}", where=where)
    return float(value)


def read_pool_file(path: Path, study: Study) -> PoolState:
    """Parse a pool TOML against the study (its domains, its ladder); errors name the field."""
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("pool file not found", where=str(path)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path)) from None
    unknown = sorted(set(table) - set(POOL_FIELDS))
    if unknown:
        raise ConfigError(f"unknown fields {unknown}; allowed: {list(POOL_FIELDS)}",
                          where=str(path))
    domains = study.space.domains
    if ("tokens" in table) == ("max_bytes" in table):
        raise ConfigError("give exactly one of 'tokens' (train tokens per domain) or "
                          "'max_bytes' (the built-in corpora at that size)", where=str(path))
    if "tokens" in table:
        given = table["tokens"]
        if not isinstance(given, dict):
            raise ConfigError(f"must be a table of domain = tokens, got {given!r}",
                              where=f"{path}: tokens")
        extra = sorted(set(given) - set(domains))
        missing = [d for d in domains if d not in given]
        if extra or missing:
            raise ConfigError(f"unknown domains {extra}, missing domains {missing}; the study "
                              f"has {list(domains)}", where=f"{path}: tokens")
        tokens = {d: _number(given[d], f"{path}: tokens.{d}") for d in domains}
    else:
        tokens = _built_in_tokens(study, int(_number(table["max_bytes"], f"{path}: max_bytes",
                                                     integer=True)))
    given_rungs = table.get("train_tokens", {})
    if not isinstance(given_rungs, dict):
        raise ConfigError(f"must be a table of rung = tokens, got {given_rungs!r}",
                          where=f"{path}: train_tokens")
    extra = sorted(set(given_rungs) - set(study.ladder.names))
    if extra:
        raise ConfigError(f"unknown rungs {extra}; the ladder has {list(study.ladder.names)}",
                          where=f"{path}: train_tokens")
    rung_tokens = tuple(
        int(_number(given_rungs[r.name], f"{path}: train_tokens.{r.name}", integer=True))
        if r.name in given_rungs else _ladder_tokens(r, path) for r in study.ladder.rungs)
    return PoolState(tokens, rung_tokens)


def _ladder_tokens(rung: Any, path: Path) -> int:
    from admire.proxy.spec import ProxySpec

    try:
        return ProxySpec.from_rung(rung).train.tokens
    except AdmireError:
        raise ConfigError(f"rung {rung.name!r} has no proxy training spec: give its training "
                          f"tokens as train_tokens.{rung.name}", where=str(path)) from None


def _built_in_tokens(study: Study, max_bytes: int) -> dict[str, float]:
    """Train tokens per domain of the study's corpora rebuilt at ``max_bytes`` (cached)."""
    from admire.app.proxy_settings import ProxySettings
    from admire.proxy.corpora import build_corpora

    settings = ProxySettings.from_config(study.config)
    corpus = dataclasses.replace(settings.corpus, max_bytes=max_bytes)
    corpora = build_corpora(settings.domain_sources(study.config), corpus,
                            cache_dir=settings.cache_dir)
    return {d: float(n) for d, n in corpora.available_tokens().items()}


def _surrogate(study: Study, pool_features: ContextFn) -> MixtureSurrogate:
    """The study's own model (its policy's options; the default policy's when it has no
    model), with the pool features as extra inputs."""
    options = ModelOptions.of(study.config.policy.options)
    bounds = options.input_bounds(study.space.lower_array, study.space.upper_array)
    return options.build_surrogate(bounds, context_fn=pool_features)


def recommend_for_pool(directory: Path, pool_file: Path, *, out: Path | None = None,
                       runs_pool: Path | None = None, features: Features = "epochs"
                       ) -> dict[str, Any]:
    """Fit on the study's runs with pool features, recommend for ``pool_file``, write JSON."""
    if features not in ("epochs", "epochs+tokens"):
        raise ConfigError(f"must be 'epochs' or 'epochs+tokens', got {features!r}",
                          where="--pool-features")
    study = Study.load(directory)
    new = read_pool_file(pool_file, study)
    table = study.runs
    table = table[table[runs.STATUS] == runs.COMPLETED].reset_index(drop=True)
    if not len(table):
        raise AdmireError("no completed trials yet: nothing to recommend")
    domains = list(study.space.domains)
    weights = table[[runs.WEIGHT_PREFIX + d for d in domains]].to_numpy(float)
    rung = np.array(table[runs.RUNG].map(study.ladder.names.index), dtype=int)
    y = study.sign * table[runs.METRIC_PREFIX + study.metric].to_numpy(float)
    if runs_pool is not None:
        covariates = read_pool_file(runs_pool, study).covariates(weights, rung, domains)
    else:
        covariates = covariates_from_table({c: table[c].to_numpy() for c in table.columns},
                                           domains, len(table),
                                           where=f"{directory} runs table (or --runs-pool)")
    fidelity = tuple(r.fidelity for r in study.ladder.rungs)
    data = training_data(weights, rung, y, fidelity, covariates, domains, features)
    with torch_seeded(derive_seed(study.config.seed, "pool-fit", data.n)):
        surrogate = _surrogate(study, context_fn(new, domains, features)).fit(data)
    target = len(study.ladder.rungs) - 1
    candidates = _candidates(study, weights[rung == target], new)
    i, mean, _ = best_predicted(surrogate, candidates, target, sd=False)
    # A pool state never run: the interval carries the hyperparameters' uncertainty too.
    _, var = surrogate.predict_widened(candidates[i][None], target)
    half = Z90 * surrogate.interval_scale(target) * float(np.sqrt(var[0]))
    names = feature_names(domains, features)
    reach = extrapolation(surrogate, candidates[i], target, names)
    lo, hi = sorted((study.sign * (mean - half), study.sign * (mean + half)))
    withheld = withheld_note(int((rung == target).sum()))
    if withheld is not None:
        lo = hi = None
    states = len({tuple(c[f"pool:tokens:{d}"] for d in domains) for c in covariates})
    summary = reach.sentence()
    if states == 1:
        summary += (" Every run shares one pool state, so repetition's effect is confounded "
                    "with the weights': treat the prediction with care (in bench/pool_context "
                    "a single state lost to the mixture-only model for a 10x larger pool).")
    result = {
        "study": study.config.name, "pool_file": str(pool_file), "features": features,
        "pool_tokens": dict(new.tokens), "rung": study.ladder.rungs[target].name,
        "mixture": dict(zip(domains, candidates[i].round(6).tolist(), strict=True)),
        "metric": study.metric, "predicted": study.sign * mean, "lower90": lo, "upper90": hi,
        "interval_note": withheld,
        "epochs": {d: new.covariates(candidates[i][None], np.array([target]), domains)[0][
            f"pool:epochs:{d}"] for d in domains},
        "model": {"surrogate": surrogate.kind, "kernel": surrogate.kernel,
                  "rung_scale": surrogate.rung_scale, "rung_level": surrogate.rung_level},
        "n_observations": int(data.n), "n_pool_states": states, "extrapolation": {
            "features": reach.features, "outside": reach.outside, "sd_ratio": reach.sd_ratio,
            "summary": summary}}
    path = Path(out) if out is not None else Path(directory) / "recommendation_pool.json"
    atomic_write(path, lambda p: Path(p).write_text(json.dumps(result, indent=1),
                                                    encoding="utf-8"))
    result["out"] = str(path)
    return result


def _candidates(study: Study, observed: np.ndarray, pool: PoolState) -> np.ndarray:
    """Sobol mixtures of the space plus the mixtures run at the target, within each domain's
    repetition limit (``max_epochs``) under the new pool."""
    space = study.space
    cands = np.vstack([space.sobol(N_CANDIDATES, seed=study.config.seed), observed])
    limits = {d.name: d.max_epochs for d in study.config.domains}
    if any(v is not None for v in limits.values()):
        upper = weight_upper_bounds({d: int(pool.tokens[d]) for d in space.domains},
                                    pool.rung_tokens[-1], limits)
        cands = cands[np.all(cands <= np.array([upper[d] for d in space.domains]) + 1e-9,
                             axis=1)]
    if not len(cands):
        raise AdmireError("no mixture of the study's space respects every domain's max_epochs "
                          "under the new pool: add data or raise max_epochs")
    return cands

"""Generated problems match their spec, reproduce per seed, and know their true optimum."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from admire.errors import ConfigError, ValidationError
from admire.problems.proxy_rungs import SHARED_TOL
from admire.problems.synthetic import SyntheticSpec, generate
from admire.schema import runs

POOL_TOL = 0.1  # over all of a rung's mixtures: the direction search gets within ~0.08

INTERIOR = SyntheticSpec(k=8, rows_per_rung=(300, 120, 60), cost_ratio=20.0, rank_corr=0.6,
                         noise=0.2, replicates=2)
FACE = SyntheticSpec(k=30, rows_per_rung=(400, 60), cost_ratio=300.0, rank_corr=0.8, noise=0.1,
                     optimum="face", face_fraction=0.3)


@pytest.fixture(scope="module")
def interior():
    return generate(INTERIOR, seed=3, name="interior")


@pytest.fixture(scope="module")
def face():
    return generate(FACE, seed=4, name="face")


def _weights(table: pd.DataFrame) -> np.ndarray:
    return table[runs.weight_columns(table)].to_numpy(dtype=float)


@pytest.mark.parametrize(("field", "value"), [
    ("k", 2), ("k", 101), ("k", 8.0), ("rows_per_rung", (100,)), ("rows_per_rung", (50, 60)),
    ("rows_per_rung", (100, 10)), ("rows_per_rung", [100, 50]), ("cost_ratio", 2.0),
    ("cost_ratio", 2000.0), ("rank_corr", 0.2), ("rank_corr", 0.99), ("noise", -0.1),
    ("noise", float("nan")), ("cheap_noise_factor", 0.5), ("optimum", "edge"),
    ("face_fraction", 0.0), ("replicates", 0), ("cost_jitter", 0.5)])
def test_bad_spec_fields_raise_config_error_naming_the_field(field, value):
    with pytest.raises(ConfigError) as info:
        dataclasses.replace(INTERIOR, **{field: value})
    assert info.value.where == f"SyntheticSpec.{field}"


def test_table_validates_and_matches_the_spec(interior):
    table = interior.table
    again, report = runs.validate_runs(table, rungs=interior.rungs)
    pd.testing.assert_frame_equal(again, table)
    assert report.renormalized_rows == 0
    assert runs.domains(table) == [f"d{i:02d}" for i in range(INTERIOR.k)]
    assert interior.rungs == ("r0", "r1", "r2")
    counts = table.groupby(runs.RUNG).size()
    for rung, n in zip(interior.rungs, INTERIOR.rows_per_rung, strict=True):
        assert counts[rung] == n * INTERIOR.replicates
        seeds = table.loc[table[runs.RUNG] == rung, runs.SEED]
        assert sorted(seeds.unique()) == [0, 1]
    mean_cost = table.groupby(runs.RUNG)[runs.COST].mean()
    assert mean_cost["r2"] / mean_cost["r0"] == pytest.approx(INTERIOR.cost_ratio, rel=1e-9)
    assert mean_cost["r2"] == pytest.approx(1.0)
    assert mean_cost["r1"] == pytest.approx(INTERIOR.cost_ratio ** -0.5)
    relative = table[runs.COST] / table[runs.RUNG].map(mean_cost)
    assert 0.005 < relative.std() < 0.1  # jittered by a few percent, not constant
    fidelity = table.groupby(runs.RUNG)[runs.FIDELITY].first()
    np.testing.assert_allclose(fidelity.to_numpy(), mean_cost.to_numpy())


def test_rungs_are_nested_and_target_mixtures_run_everywhere(interior):
    table = interior.table
    keys = runs.mixture_keys(table)
    sets = [set(keys[table[runs.RUNG] == r]) for r in interior.rungs]
    assert [len(s) for s in sets] == list(INTERIOR.rows_per_rung)
    assert sets[2] <= sets[1] <= sets[0]


def test_same_seed_same_table_other_seed_other_table(interior):
    same = generate(INTERIOR, seed=3, name="interior")
    pd.testing.assert_frame_equal(same.table, interior.table)
    np.testing.assert_array_equal(same.optimum_weights, interior.optimum_weights)
    other = generate(INTERIOR, seed=4, name="interior")
    assert not np.allclose(_weights(other.table), _weights(interior.table))
    assert not np.allclose(other.optimum_weights, interior.optimum_weights)


@pytest.mark.parametrize("corr", [0.3, 0.6, 0.95])
def test_cheap_rung_rank_correlation_matches_the_spec(corr):
    spec = SyntheticSpec(k=12, rows_per_rung=(400, 150, 80), rank_corr=corr, noise=0.1)
    problem = generate(spec, seed=1, name="corr")
    table = problem.table
    wants = (corr, corr + (1 - corr) / 2)
    shared = _weights(table[table[runs.RUNG] == "r2"])
    for r, want in zip(("r0", "r1"), wants, strict=True):
        # Over the target mixtures, which every rung shares: calibrated, tight.
        realised = spearmanr(problem.truth(shared, r), problem.truth(shared))[0]
        assert realised == pytest.approx(want, abs=SHARED_TOL)
        # Over all of the rung's mixtures: close, not exact.
        everything = _weights(table[table[runs.RUNG] == r])
        wide = spearmanr(problem.truth(everything, r), problem.truth(everything))[0]
        assert wide == pytest.approx(want, abs=POOL_TOL)
        assert problem.realised_corr[problem.rungs.index(r)] == pytest.approx(wide, abs=1e-12)
    # Bigger models have lower loss.
    levels = [problem.truth(shared, r).mean() for r in problem.rungs]
    assert levels[0] > levels[1] > levels[2]


def _random_mixtures(k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Dirichlet draws with mixed concentration (spiky to near-uniform), via normalised gammas."""
    alphas = rng.choice([0.05, 0.3, 1.0, 5.0], size=(n, 1))
    g = rng.gamma(np.broadcast_to(alphas, (n, k)))
    g[g.sum(axis=1) == 0, 0] = 1.0  # underflow at tiny alpha: fall back to a vertex
    return g / g.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("which", ["interior", "face"])
def test_optimum_beats_random_mixtures_table_rows_and_neighbours(which, request):
    problem = request.getfixturevalue(which)
    k, w_star, best = problem.spec.k, problem.optimum_weights, problem.optimum_value
    assert abs(w_star.sum() - 1) < 1e-12 and float(problem.truth(w_star)) == best
    rng = np.random.default_rng(0)
    assert problem.truth(_random_mixtures(k, 20000, rng)).min() >= best
    assert problem.truth(_weights(problem.table)).min() >= best
    # Neighbours along the simplex: a local dent would show here first.
    steps = rng.normal(size=(2000, k)) * rng.choice([1e-4, 1e-3, 1e-2], size=(2000, 1))
    steps -= steps.mean(axis=1, keepdims=True)
    near = np.clip(w_star + steps, 0, None)
    near /= near.sum(axis=1, keepdims=True)
    assert problem.truth(near).min() >= best - 1e-12
    # KKT: equal gradients on the support, no better direction off it.
    grad = problem.target_law.gradient(w_star)
    support = w_star > 0
    mu = float(grad[support] @ w_star[support])
    assert np.max(np.abs(grad[support] - mu)) < 1e-8
    assert np.all(grad[~support] >= mu)


def test_interior_optimum_has_every_weight_positive(interior):
    assert not interior.harmful.any()
    assert interior.optimum_weights.min() > 1e-3 / INTERIOR.k


def test_face_optimum_leaves_out_exactly_the_harmful_domains(face):
    assert face.harmful.sum() == round(0.3 * FACE.k)
    assert np.all(face.optimum_weights[face.harmful] == 0.0)
    assert face.optimum_weights[~face.harmful].min() > 1e-3 / FACE.k


@pytest.mark.parametrize("rung", ["r0", "r2"])
def test_replicate_evaluations_have_the_requested_noise(interior, rung):
    w = interior.optimum_weights
    rng = np.random.default_rng(7)
    draws = [interior.evaluate(w, rung, rng) for _ in range(2500)]
    values = np.array([m["loss"] for m, _ in draws])
    costs = np.array([c for _, c in draws])
    r = interior.rungs.index(rung)
    assert values.std(ddof=1) == pytest.approx(interior.noise_sd[r], rel=0.05)  # 3.5 sigma
    assert values.mean() == pytest.approx(float(interior.truth(w, rung)),
                                          abs=4 * interior.noise_sd[r] / np.sqrt(2500))
    assert costs.mean() == pytest.approx(interior.rung_costs[r], rel=0.01)
    # The target noise is the requested fraction of the target's spread over the pool.
    pool = _weights(interior.table[interior.table[runs.RUNG] == "r0"])
    fraction = INTERIOR.cheap_noise_factor if rung == "r0" else 1.0
    spread = np.std(interior.truth(pool, rung))
    assert interior.noise_sd[r] == pytest.approx(INTERIOR.noise * fraction * spread, rel=1e-9)


def test_table_noise_matches_replicates(interior):
    target = interior.table[interior.table[runs.RUNG] == "r2"]
    pairs = target.groupby(runs.mixture_keys(target))["m:loss"]
    diffs = pairs.max() - pairs.min()  # |a - b| of two replicates: mean sd * 2/sqrt(pi)
    estimate = diffs.mean() * np.sqrt(np.pi) / 2
    assert estimate == pytest.approx(interior.noise_sd[2], rel=0.3)


def test_evaluate_rejects_bad_weights_and_rungs(interior):
    rng = np.random.default_rng(0)
    with pytest.raises(ValidationError, match="sum"):
        interior.evaluate(np.full(INTERIOR.k, 0.2), "r0", rng)
    with pytest.raises(ValidationError, match="weights"):
        interior.evaluate(np.ones(3) / 3, "r0", rng)
    with pytest.raises(ValidationError, match="unknown rung"):
        interior.evaluate(interior.optimum_weights, "r9", rng)

"""Reuse scenarios: every stage is the same truth seen through its domains, and each stage's
warm-start mapping carries the previous stage's mixtures to the same fine mixtures."""

from __future__ import annotations

import numpy as np
import pytest

from admire.problems.reuse_scenarios import split_add_scenario, split_add_truths
from admire.problems.synthetic import OBJECTIVE, SyntheticSpec, generate
from admire.schema import runs
from admire.schema.domain_map import domain_map

SPEC = SyntheticSpec(k=5, rows_per_rung=(60, 30, 20))


@pytest.fixture(scope="module")
def stages():
    return split_add_scenario(SPEC, seed=3)


def test_stages_merge_then_split_then_add(stages):
    assert [s.name for s in stages] == ["coarse", "split", "add"]
    assert stages[0].domains == ("d00+d01", "d02", "d03")
    assert stages[1].domains == ("d00", "d01", "d02", "d03")
    assert stages[2].domains == ("d00", "d01", "d02", "d03", "d04")
    for stage in stages:
        assert runs.domains(stage.table) == list(stage.domains)
        np.testing.assert_allclose(stage.to_fine.sum(axis=1), 1.0)
    assert stages[2].table.equals(generate(SPEC, 3, name="reuse").table)


def test_each_mapping_sends_old_mixtures_to_the_same_fine_mixture(stages):
    for old, new in zip(stages, stages[1:], strict=False):
        mapping = domain_map(old.domains, new.domains, **new.mapping)
        np.testing.assert_allclose(mapping.matrix @ new.to_fine, old.to_fine, atol=1e-12)


def test_stage_values_follow_the_fine_truth(stages):
    problem = generate(SPEC, 3, name="reuse")
    stage = stages[0]
    target = stage.table[stage.table[runs.RUNG] == problem.rungs[-1]]
    weights = target[[runs.WEIGHT_PREFIX + d for d in stage.domains]].to_numpy()
    truth = problem.truth(weights @ stage.to_fine)
    residual = target[OBJECTIVE].to_numpy() - truth
    assert np.std(residual) < 3 * problem.noise_sd[-1]
    assert np.corrcoef(truth, target[OBJECTIVE])[0, 1] > 0.5


def test_live_truths_find_each_stages_best_and_the_last_is_the_certified_optimum():
    truths = split_add_truths(SPEC, seed=3)
    problem = truths[-1].problem
    assert truths[-1].optimum_value == pytest.approx(problem.optimum_value, abs=1e-7)
    # more domains can only do as well or better; each stage's best beats its own swarm
    values = [t.optimum_value for t in truths]
    assert values[0] >= values[1] - 1e-9 >= values[2] - 2e-9
    rng = np.random.default_rng(0)
    for t in truths:
        swarm = rng.dirichlet(np.ones(len(t.stage.domains)), size=200)
        assert min(t.regret(w) for w in swarm) > 0.0
        assert t.regret(t.optimum_weights) == pytest.approx(0.0, abs=1e-9)
        assert t.scale > 0.0


def test_a_live_run_of_a_stage_mixture_trains_its_fine_mixture():
    coarse = split_add_truths(SPEC, seed=3)[0]
    merged = np.zeros(len(coarse.stage.domains))
    merged[0] = 1.0
    fine = coarse.fine(merged)
    assert fine[0] + fine[1] == pytest.approx(1.0) and 0.2 <= fine[0] <= 0.8  # the token share
    rung = coarse.problem.rungs[-1]
    draws = [coarse.evaluate(merged, rung, np.random.default_rng(i))[0]["loss"]
             for i in range(200)]
    truth = float(coarse.problem.truth(fine))
    assert abs(np.mean(draws) - truth) < 4 * coarse.problem.noise_sd[-1] / np.sqrt(200)


# --- the recorded-table scenario (ADMIRE IFT Runs) -----------------------------------------------

@pytest.fixture(scope="module")
def recorded():
    from admire.problems import ADMIRE_TABLE
    from admire.problems.reuse_recorded import MISSING, admire_ift_scenario, merge_pair

    return runs.read_runs(ADMIRE_TABLE), admire_ift_scenario(seed=2), merge_pair(2), MISSING


def test_merge_pairs_are_same_kind_and_fixed_by_seed():
    from admire.problems.reuse_recorded import KINDS, merge_pair, same_kind_pairs

    pairs = same_kind_pairs()
    assert len(pairs) == len(set(pairs)) == 10 + 1 + 3 + 6
    assert all(any(set(p) <= set(names) for names in KINDS.values()) for p in pairs)
    assert merge_pair(5) == merge_pair(5)
    assert len({merge_pair(s) for s in range(10)}) > 3


def test_recorded_stages_merge_then_split_then_add(recorded):
    table, stages, (a, b), missing = recorded
    fine = runs.domains(table)
    assert [s.name for s in stages] == ["coarse", "split", "add"]
    assert f"{a}+{b}" in stages[0].domains and a not in stages[0].domains
    assert set(stages[1].domains) == set(fine) - {missing}
    assert stages[2].domains == tuple(fine)
    for stage in stages:
        runs.validate_runs(stage.table)
        weights = stage.table[[runs.WEIGHT_PREFIX + d for d in stage.domains]].to_numpy()
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
        assert set(stage.table[runs.RUNG]) == set(table[runs.RUNG])


def test_recorded_pools_are_disjoint_thirds_with_recorded_values(recorded):
    table, stages, (a, b), missing = recorded
    ids = [set(s.table[runs.RUN_ID]) for s in stages]
    assert not ids[0] & ids[1] and not ids[1] & ids[2] and not ids[0] & ids[2]
    assert set.union(*ids) == set(table[runs.RUN_ID])
    target = table[runs.RUNG].iloc[table[runs.FIDELITY].argmax()]
    n_target = [int((s.table[runs.RUNG] == target).sum()) for s in stages]
    assert max(n_target) - min(n_target) <= 1
    by_id = table.set_index(runs.RUN_ID)
    coarse = stages[0].table.set_index(runs.RUN_ID)
    metric = runs.METRIC_PREFIX + "avg_id+ood"
    np.testing.assert_array_equal(coarse[metric], by_id.loc[coarse.index, metric])
    # the merged weight is the sum of the two, renormalised without the missing domain
    w = runs.WEIGHT_PREFIX
    original = by_id.loc[coarse.index]
    expected = (original[w + a] + original[w + b]) / (1.0 - original[w + missing])
    np.testing.assert_allclose(coarse[f"{w}{a}+{b}"], expected, atol=1e-12)


def test_recorded_split_mapping_keeps_the_merged_sum(recorded):
    table, stages, (a, b), _ = recorded
    coarse, split = stages[0], stages[1]
    mapping = domain_map(coarse.domains, split.domains, **split.mapping)
    old = coarse.table[[runs.WEIGHT_PREFIX + d for d in coarse.domains]].to_numpy()
    new = old @ mapping.matrix
    np.testing.assert_allclose(new.sum(axis=1), 1.0, atol=1e-12)
    ia, ib = split.domains.index(a), split.domains.index(b)
    merged = old[:, coarse.domains.index(f"{a}+{b}")]
    np.testing.assert_allclose(new[:, ia] + new[:, ib], merged, atol=1e-12)
    share = table[runs.WEIGHT_PREFIX + a].mean() / (
        table[runs.WEIGHT_PREFIX + a].mean() + table[runs.WEIGHT_PREFIX + b].mean())
    np.testing.assert_allclose(new[:, ia], share * merged, atol=1e-12)
    added = domain_map(split.domains, stages[2].domains, **stages[2].mapping)
    np.testing.assert_allclose(added.matrix @ stages[2].to_fine, split.to_fine, atol=1e-12)

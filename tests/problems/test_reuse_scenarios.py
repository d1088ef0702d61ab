"""Reuse scenarios: every stage is the same truth seen through its domains, and each stage's
warm-start mapping carries the previous stage's mixtures to the same fine mixtures."""

from __future__ import annotations

import numpy as np
import pytest

from admire.problems.reuse_scenarios import split_add_scenario
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

"""Every preset generates (seed 0) a table that matches its spec, with its optimum as asked."""

from __future__ import annotations

import numpy as np
import pytest

from admire.problems.presets import PRESETS
from admire.problems.proxy_rungs import SHARED_TOL
from admire.problems.synthetic import generate
from admire.schema import runs


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_matches_its_spec(name):
    spec = PRESETS[name]
    problem = generate(spec, seed=0, name=name)
    counts = problem.table.groupby(runs.RUNG).size()
    assert [counts[r] for r in problem.rungs] == [n * spec.replicates for n in spec.rows_per_rung]
    np.testing.assert_allclose(problem.shared_corr, spec.requested_corr(), atol=SHARED_TOL)
    np.testing.assert_allclose(problem.realised_corr, spec.requested_corr(), atol=0.1)
    w = problem.optimum_weights
    assert np.all(w[problem.harmful] == 0) and np.all(w[~problem.harmful] > 0)
    assert problem.harmful.sum() == spec.n_harmful
    assert problem.kkt_residuals[0] < 1e-8 and problem.kkt_residuals[1] <= 0

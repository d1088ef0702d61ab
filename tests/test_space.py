"""The simplex: space-filling starts and projections keep sum = 1 and the bounds, any K."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admire.errors import ConfigError, ValidationError
from admire.space import MixtureSpace


def bounded(k: int) -> MixtureSpace:
    lower = np.full(k, 0.2 / k)
    upper = np.full(k, min(1.0, 3.0 / k))
    upper[0] = lower[0] + 0.01
    return MixtureSpace(tuple(f"d{i}" for i in range(k)), tuple(lower), tuple(upper))


@pytest.mark.parametrize("k", [3, 19, 60, 100])
def test_sobol_start_respects_sum_and_bounds(k):
    space = bounded(k)
    w = space.sobol(512, seed=1)
    assert np.abs(w.sum(axis=1) - 1).max() <= 1e-9
    assert (w >= space.lower_array - 1e-12).all() and (w <= space.upper_array + 1e-12).all()
    assert len(np.unique(w.round(9), axis=0)) == 512
    np.testing.assert_array_equal(w, space.sobol(512, seed=1))


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 30), st.data())
def test_project_lands_in_the_space(k, data):
    lower = np.array(data.draw(st.lists(st.floats(0, 0.5 / k), min_size=k, max_size=k)))
    upper = np.array(data.draw(st.lists(st.floats(1.5 / k, 1.0), min_size=k, max_size=k)))
    space = MixtureSpace(tuple(f"d{i}" for i in range(k)), tuple(lower), tuple(upper))
    raw = np.array(data.draw(st.lists(st.floats(-1, 2), min_size=k, max_size=k)))
    w = space.project(raw)
    space.check(w)


def test_empty_simplex_is_a_config_error_naming_the_problem():
    with pytest.raises(ConfigError, match="lower bounds sum to 1.2"):
        MixtureSpace(("a", "b"), (0.6, 0.6), (1.0, 1.0))
    with pytest.raises(ConfigError, match="upper bounds sum to 0.5"):
        MixtureSpace(("a", "b"), (0.0, 0.0), (0.2, 0.3))
    with pytest.raises(ConfigError, match="domain 'b'"):
        MixtureSpace(("a", "b"), (0.0, 0.7), (1.0, 0.5))


def test_check_names_the_domain():
    space = MixtureSpace(("a", "b"), (0.0, 0.0), (1.0, 0.4))
    with pytest.raises(ValidationError, match="weight of 'b' is 0.6"):
        space.check([0.4, 0.6])
    with pytest.raises(ValidationError, match="unknown domains"):
        space.from_dict({"a": 0.5, "zz": 0.5})


def test_ax_search_space_has_equality_constraint_and_fidelity():
    from helpers import LADDER

    ss = bounded(5).to_ax(LADDER)
    fidelity = ss.parameters["fidelity"]
    assert fidelity.is_fidelity and fidelity.target_value == 1.0
    assert len(ss.parameter_constraints) == 1

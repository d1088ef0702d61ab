"""How far a study's intervals were checked: withheld below MIN_LOO target runs, and a flag on
mixtures farther from every target run than any leave-one-out check reached."""

from __future__ import annotations

import numpy as np
import pytest

from admire.bo.history import Observations
from admire.bo.reach import interval_reach, withheld_note
from admire.bo.surrogate import MIN_LOO

TARGET = 2


def observations(target_mixtures: list[list[float]], cheap: int = 3) -> Observations:
    """Runs at the target rung at ``target_mixtures`` plus ``cheap`` runs at rung 0."""
    k = len(target_mixtures[0])
    weights = np.vstack([np.full((cheap, k), 1.0 / k), np.array(target_mixtures)])
    rung = np.r_[np.zeros(cheap, dtype=int), np.full(len(target_mixtures), TARGET)]
    n = len(rung)
    return Observations(weights, rung, np.zeros(n), np.ones(n))


def test_intervals_are_withheld_below_min_loo_target_runs_whatever_the_cheap_runs():
    few = observations([[0.5, 0.5, 0.0], [0.4, 0.4, 0.2], [0.3, 0.3, 0.4], [0.2, 0.2, 0.6]][
        :MIN_LOO - 1], cheap=20)
    reach = interval_reach(few, np.array([0.5, 0.5, 0.0]), TARGET)
    assert reach.target_runs == MIN_LOO - 1 and not reach.calibrated
    assert reach.note() == withheld_note(MIN_LOO - 1)
    assert f"{MIN_LOO - 1} run(s) at the target rung" in reach.note()
    assert withheld_note(MIN_LOO) is None


def test_the_checked_distance_is_the_farthest_any_target_mixture_is_from_its_nearest():
    # four corners-ish of a line plus a replicate: gaps 0.1, 0.1, 0.3 along one edge
    mixtures = [[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.5, 0.5, 0.0],
                [0.5, 0.5, 0.0]]
    obs = observations(mixtures)
    step = np.sqrt(2) * 0.3  # the isolated mixture's gap to its nearest neighbour
    near = interval_reach(obs, np.array([0.85, 0.15, 0.0]), TARGET)
    assert near.target_runs == 5 and near.calibrated
    assert near.checked == pytest.approx(step)
    assert near.nearest == pytest.approx(np.sqrt(2) * 0.05)
    assert not near.extrapolates and near.note() is None
    far = interval_reach(obs, np.array([0.0, 0.0, 1.0]), TARGET)
    assert far.extrapolates and far.nearest > far.checked
    assert far.note().startswith("extrapolation: this mixture is")
    assert far.to_dict()["extrapolates"] is True


def test_replicates_of_one_mixture_check_no_distance():
    obs = observations([[0.2, 0.3, 0.5]] * MIN_LOO)
    reach = interval_reach(obs, np.array([0.2, 0.3, 0.5]), TARGET)
    assert reach.calibrated and reach.checked is None
    assert reach.nearest == 0.0 and not reach.extrapolates  # at the mixture itself
    # but any other mixture is beyond what was checked: no distance ever was
    assert interval_reach(obs, np.array([0.25, 0.25, 0.5]), TARGET).extrapolates

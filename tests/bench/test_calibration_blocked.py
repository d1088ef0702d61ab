"""The blocked leave-out experiment's blocks: a target run goes out with its mixture's runs at
every rung and the target runs within the radius, nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from calibration_blocked import blocks, nearest_distance  # noqa: E402


def test_nearest_distance_is_to_the_closest_row():
    to = np.array([[1.0, 0.0], [0.0, 1.0]])
    got = nearest_distance(np.array([[0.9, 0.1], [0.5, 0.5]]), to)
    np.testing.assert_allclose(got, [np.sqrt(0.02), np.sqrt(0.5)])


def test_a_block_holds_the_mixture_at_every_rung_and_the_near_target_runs():
    weights = np.array([[1.0, 0.0], [1.0, 0.0], [0.9, 0.1], [0.95, 0.05], [0.0, 1.0]])
    rung = np.array([0, 1, 1, 0, 1])
    ids = np.array([0, 0, 1, 2, 3])
    wanted, out = blocks(weights, rung, ids, target=1, radius=0.2)
    assert wanted.tolist() == [1, 2, 4]
    # run 1: its own mixture at rung 0 too, and target run 2 (0.14 away); never cheap run 3
    assert out[0].tolist() == [0, 1, 2]
    assert out[1].tolist() == [1, 2]
    assert out[2].tolist() == [4]
    _, alone = blocks(weights, rung, ids, target=1, radius=0.0)
    assert [b.tolist() for b in alone] == [[0, 1], [2], [4]]  # leave-one-mixture-out

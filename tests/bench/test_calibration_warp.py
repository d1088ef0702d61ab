"""The warp experiment's transforms: a warped interval maps back onto the objective exactly."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from calibration_warp import interval_score, unwarp_power, warps  # noqa: E402


@pytest.mark.parametrize("power", [-1.0, 0.0, 0.5, 1.0, 2.0, 3.5])
def test_unwarp_inverts_scipys_yeo_johnson_on_both_signs(power):
    x = np.linspace(-4.0, 4.0, 17)
    np.testing.assert_allclose(unwarp_power(stats.yeojohnson(x, power), power), x, atol=1e-9)


def test_unwarp_past_the_warps_range_is_infinite_not_nan():
    assert unwarp_power(np.array([10.0]), -1.0)[0] == np.inf  # -1 * 10 + 1 <= 0
    assert unwarp_power(np.array([-10.0]), 3.0)[0] == -np.inf


def test_warps_fit_a_power_per_rung_or_share_the_cheapest_rungs():
    rng = np.random.default_rng(0)
    y = np.concatenate([-rng.lognormal(0.0, 0.8, 60), rng.normal(0.0, 1.0, 20)])
    rung = np.repeat([0, 1], [60, 20])
    own, shared = warps(y, rung, "rung"), warps(y, rung, "cheapest")
    assert own[0][2] == shared[0][2] == shared[1][2]
    assert own[0][2] > 1.5 > own[1][2]  # a left-skewed rung needs a power above 1
    for warp, unwarp, _ in own.values():
        np.testing.assert_allclose(unwarp(warp(y[rung == 1])), y[rung == 1], atol=1e-9)
    warped = own[0][0](y[rung == 0])
    assert abs(stats.skew(warped)) < abs(stats.skew(y[rung == 0])) / 3


def test_interval_score_charges_width_and_twenty_times_a_miss():
    truth = np.array([0.0, 0.0])
    assert interval_score(np.array([-1.0, -1.0]), np.array([1.0, 1.0]), truth) == 2.0
    # one interval misses by 0.5: its width 1 plus 20 x 0.5
    assert interval_score(np.array([-1.0, 0.5]), np.array([1.0, 1.5]), truth) == (2 + 11) / 2
    assert interval_score(np.array([-np.inf]), np.array([1.0]), truth[:1]) == np.inf

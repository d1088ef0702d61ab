"""The replay reuse bench's measure at equal final regret: per seed, the cost from which each
method's recommendation is at least as good as scratch's final one, and stays so."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def _bench():
    path = REPO / "bench" / "reuse_replay.py"
    spec = importlib.util.spec_from_file_location("reuse_replay", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_cost_to_scratchs_final_regret_is_per_seed_and_for_good():
    bench = _bench()
    methods = {
        # seed 0 ends on regret 0.2 (reached at 3 for good); seed 1 ends on the best at 5
        "scratch": {"curves": [[[1, 0.5], [3, 0.2], [6, 0.2]], [[2, 0.3], [5, 0.0]]]},
        # reaches 0.1 at 1 but loses it at 2, good for good from 4; never as good on seed 1
        "warm": {"curves": [[[1, 0.1], [2, 0.4], [4, 0.15]], [[1, 0.1], [3, 0.05]]]},
    }
    costs = bench.to_scratch_regret(methods)
    assert costs["scratch"] == [3, 5]
    assert costs["warm"] == [4, None]
    lines = bench.at_scratch_regret({"stages": {"add": methods}})
    row = next(line for line in lines if line.startswith("| add | warm"))
    assert "never (1/2)" in row and "0 / 2" in row  # median of (4, inf) is inf; later on both


def test_an_earlier_study_two_updates_back_gets_both_updates_in_one_mapping():
    bench = _bench()
    split = {"split": {"a+b": {"a": 0.3, "b": 0.7}}}
    added = {"added": ["z"]}
    assert bench.compose([split, added]) == {"split": {"a+b": {"a": 0.3, "b": 0.7}},
                                             "added": ["z"]}
    assert bench.compose([added, {"added": ["y"]}]) == {"added": ["z", "y"]}
    assert bench.compose([]) == {}


def test_median_curves_hold_each_seeds_latest_recommendation_and_count_none_as_worst():
    bench = _bench()
    grid = np.array([0.0, 1.0, 2.0, 3.0])
    curves = [[[0, 0.5], [2, 0.1]], [[1, 0.3], [3, 0.0]], [[0, 0.2]]]
    # cost 0: 0.5, none yet (inf), 0.2 -> 0.5; cost 1: 0.5, 0.3, 0.2 -> 0.3; 2: 0.1, 0.3, 0.2
    assert bench.median_curve(curves, grid).tolist() == [0.5, 0.3, 0.2, 0.1]
    assert bench.for_good(np.array([0.5, 0.3, 0.2, 0.1]), grid, 0.2) == 2.0
    assert bench.for_good(np.array([0.1, 0.3, 0.2, 0.1]), grid, 0.2) == 2.0  # lost at 1
    assert bench.for_good(np.array([0.1, 0.1, 0.1, 0.1]), grid, 0.2) == 0.0
    assert bench.for_good(np.array([0.1, 0.1, 0.1, 0.3]), grid, 0.2) is None


def test_the_median_measure_compares_with_scratchs_median_final_regret():
    bench = _bench()
    methods = {  # scratch ends on 0.2, 0.1, 0.3: level 0.2, its median curve there from 2
        "scratch": {"curves": [[[1, 0.4], [2, 0.2]], [[1, 0.5], [2, 0.1]], [[1, 0.3], [4, 0.3]]]},
        # reuse starts below the level, loses it at 1 and is back under it from 1.5
        "reuse": {"curves": [[[0, 0.1], [1, 0.3], [1.5, 0.1]], [[0, 0.1]], [[0, 0.4]]]},
    }
    lines = bench.at_scratch_median({"budget": 4, "stages": {"add": methods}})
    scratch = next(line for line in lines if line.startswith("| add | scratch"))
    reuse = next(line for line in lines if line.startswith("| add | reuse"))
    assert "| 0.2000 | 2.00 | - |" in scratch
    # reuse's median: 0.1 at 0, 0.3 at 1 (0.3, 0.1, 0.4), 0.1 from 1.5: for good from 1.5
    assert "| 0.2000 | 1.50 | 25% |" in reuse

"""The replay reuse bench's measure at equal final regret: per seed, the cost from which each
method's recommendation is at least as good as scratch's final one, and stays so."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

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

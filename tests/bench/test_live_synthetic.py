"""The live synthetic bench: a study trains any mixture on a preset's truth, and its regret is
measured against the certified optimum in units of a random mixture's."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def _bench():
    path = REPO / "bench" / "live_synthetic.py"
    spec = importlib.util.spec_from_file_location("live_synthetic", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_regret_at_a_cost_is_the_last_answer_by_then_and_a_random_mixtures_before():
    bench = _bench()
    curve = [[0.5, 0.8], [1.5, 0.3], [3.0, 0.1]]
    assert bench.regret_at(curve, 0.2) == 1.0
    assert bench.regret_at(curve, 2.9) == 0.3
    assert bench.regret_at(curve, 3.0) == 0.1


def test_a_live_study_spends_its_budget_on_the_truth_and_scores_its_answers():
    bench = _bench()
    result = bench.live_study("k3-easy", "random", seed=0, budget=3.0)
    costs = np.array([c for c, _ in result["curve"]])
    regrets = np.array([g for _, g in result["curve"]])
    assert len(costs) >= 2 and np.all(np.diff(costs) > 0) and costs[-1] <= 3.0 + 1e-9
    assert np.all(regrets >= 0.0) and np.all(np.isfinite(regrets))
    again = bench.live_study("k3-easy", "random", seed=0, budget=3.0)
    assert again["curve"] == result["curve"]  # seeded: the same study twice


def test_a_model_policys_intervals_are_checked_at_held_out_mixtures_and_at_its_answer():
    bench = _bench()
    early = bench.live_study("k3-easy", "mfbo", seed=0, budget=2.0, coverage=4)
    assert "held_out" not in early  # too few target runs: the study withholds its intervals
    result = bench.live_study("k3-easy", "mfbo", seed=0, budget=6.0, coverage=4)
    for key in ("held_out", "recommended"):
        assert 0.0 <= result[key]["run"] <= 1.0
        assert result[key]["mean"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert "held_out" not in bench.live_study("k3-easy", "random", seed=0, budget=2.0,
                                              coverage=4)  # no model, no intervals
    reach = result["reach"]  # every held-out mixture is within or beyond the checked distance
    assert reach["n_within"] + reach["n_beyond"] == 4
    assert 0 <= reach["run_within"] <= reach["n_within"]
    summary = bench.summarize([early, result], ["mfbo"])
    table = bench.markdown(summary, ["mfbo"], "cmd", 1.0)
    assert "## The 90% intervals against the truth" in table
    assert "| 1 of 2 |" in table  # the early study withheld its intervals
    assert f"{result['held_out']['run']:.2f}" in table.split("## The 90%")[1]
    # once confirmed (own run and 2 fresh seeds; the fresh seeds alone): shares, tabled
    assert set(result["confirmed"]) == {"run", "fresh_run"}
    assert all(0.0 <= v <= 1.0 for v in result["confirmed"].values())
    confirmed = table.split("## The recommendation's interval for a new run, once confirmed")[1]
    assert f"| {result['confirmed']['fresh_run']:.2f} |" in confirmed
    older = bench.summarize([{k: v for k, v in result.items() if k != "confirmed"}], ["mfbo"])
    assert "once confirmed" not in bench.markdown(older, ["mfbo"], "cmd", 1.0)

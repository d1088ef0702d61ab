"""The live reuse bench's configs load as the studies it means, and its saving is the cost to
reach scratch's best, read off the finished-order trajectories."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from admire.schema.config import load_config

REPO = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("reuse_live", REPO / "bench" / "reuse_live.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configs_drop_a_domain_grow_the_pool_and_warm_start(tmp_path):
    bench = _bench()
    a = tmp_path / "a.toml"
    a.write_text(bench.study_config(name="a", budget=5.0, seed=3, max_bytes=500_000,
                                    drop="scripture"))
    config_a = load_config(a)
    assert "scripture" not in config_a.domain_names and len(config_a.domain_names) == 5
    assert config_a.seed == 3 and config_a.budget == 5.0
    b = tmp_path / "b.toml"
    b.write_text(bench.study_config(name="b", budget=7.0, seed=3, max_bytes=2_000_000,
                                    drop=None, policy="reuse", warm_from=tmp_path / "A",
                                    added="scripture"))
    config_b = load_config(b)
    assert len(config_b.domain_names) == 6 and config_b.policy.name == "reuse"
    assert config_b.warm_start[0].added == ["scripture"]
    assert "max_bytes = 2000000" in b.read_text()


def _traj(rows):
    out, nominal = [], 0.0
    for rung, value, fidelity in rows:
        nominal += fidelity
        out.append({"rung": rung, "objective": value, "nominal": nominal})
    best = min(v for r, v, _ in rows if r == "t")
    return {"target": "t", "rows": out, "best_target": best, "spent_nominal": nominal}


def test_saving_is_the_cost_to_reach_scratchs_best_target_value():
    bench = _bench()
    scratch = _traj([("t", 2.5, 1.0), ("c", 2.0, 0.1), ("t", 2.2, 1.0), ("t", 2.3, 1.0)])
    warm = _traj([("t", 2.5, 1.0), ("t", 2.1, 1.0)])
    never = _traj([("t", 2.4, 1.0)])
    s = bench.savings({"scratch": scratch, "warm": warm, "reuse": never})
    assert s["goal"] == 2.2 and s["scratch_cost_to_goal"] == 2.1
    assert s["warm"]["cost_to_goal"] == 2.0 and s["warm"]["trials_to_goal"] == 2
    assert abs(s["warm"]["saved_vs_scratch_total"] - (1 - 2.0 / 3.1)) < 1e-12
    assert s["reuse"]["cost_to_goal"] is None

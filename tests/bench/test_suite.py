"""The suite's CI version runs end to end and says where the default stands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_small_suite_writes_tables_with_a_verdict_per_problem(tmp_path):
    cmd = [sys.executable, str(REPO / "bench" / "suite.py"), "--small", "--workers", "2",
           "--out", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "suite.json").read_text())
    assert len(report["problems"]) == 3
    for name, problem in report["problems"].items():
        methods = problem["methods"]
        assert set(methods) == {"mfbo", "random", "regmix"}, name
        for method in methods.values():
            assert len(method["aurc"]) == 2  # one per seed
            assert all(0 <= a < 10 for a in method["aurc"])
        assert problem["verdict"]["regret@3"]["status"] in ("best", "within noise", "worse")
    rows = (tmp_path / "suite.rows.jsonl").read_text().splitlines()
    assert len(rows) == 3 * 3 * 2
    assert "| problem |" in (tmp_path / "suite.md").read_text()
    assert (tmp_path / "suite.png").stat().st_size > 10_000

"""Command-template rungs on Ray: a stand-in trainer script trains a whole study through
``tune``; one that exits 1, hangs past its timeout or writes no metrics fails its trial with the
reason and its log tail, and the pool goes on."""

from __future__ import annotations

import json
import time

import psutil
import pytest
from byot_helpers import command, command_study, expected, write_trainer
from live_helpers import embedded_ray
from rich.console import Console

from admire.app.tune import TRIALS_DIR, tune
from admire.evaluators.ray.pool import RayProxyPool
from admire.evaluators.ray.worker import TrialRequest
from admire.schema import runs
from admire.schema.ladder import ladder_from_dict
from admire.study import Study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    with embedded_ray():
        yield


def test_a_study_of_command_rungs_trains_through_ray_end_to_end(cluster, tmp_path):
    trainer = write_trainer(tmp_path / "trainer")
    config = command_study(tmp_path / "cfg", trainer, max_trials=5)
    out = tmp_path / "out"
    result = tune(config, out, console=Console(quiet=True))
    assert result.stop_reason == "max_trials reached (5)"
    table = Study.load(out).runs
    assert len(table) == 5 and set(table[runs.STATUS]) == {runs.COMPLETED}
    assert set(table[runs.RUNG]) == {"small", "large"}  # kg screens on the command rung
    for _, row in table.iterrows():
        weights = {d: row[runs.WEIGHT_PREFIX + d] for d in ("math", "scripture", "code")}
        offset = 0.1 if row[runs.RUNG] == "large" else 0.0
        assert row["m:objective"] == pytest.approx(expected(weights, offset), abs=1e-6)
        assert row[runs.COST] == (4.0 if row[runs.RUNG] == "large" else 1.0)  # the file's cost
        trial = int(row[runs.RUN_ID].rsplit("-", 1)[1])
        folder = out / TRIALS_DIR / f"{trial:05d}-{row[runs.RUNG]}"
        assert json.loads((folder / "mixture.json").read_text()) == pytest.approx(weights)
        log = (folder / "log.txt").read_text()
        assert "step 29" in log and ("tokens 1000" in log) == (row[runs.RUNG] == "small")
    assert result.recommendation is not None and result.study.references() == {"uniform": 0}


def test_failing_commands_fail_their_trials_with_the_reason_and_log_tail(cluster, tmp_path):
    trainer = write_trainer(tmp_path / "trainer")
    rungs = [{"name": name, "cost_estimate": 1.0 + i, "timeout_s": 3,
              "command": command(trainer, f"--mode {mode}")}
             for i, (name, mode) in enumerate([("exits", "exit"), ("hangs", "sleep"),
                                               ("silent", "nometrics"), ("ok", "ok")])]
    ladder = ladder_from_dict({"name": "bad", "rung": rungs}, where="test")
    mix = {"math": 0.2, "scripture": 0.3, "code": 0.5}
    out = []
    t0 = time.monotonic()
    with RayProxyPool(None, ladder, 2) as pool:
        for i, rung in enumerate(ladder.rungs):
            while pool.free == 0:
                out += pool.wait(timeout=0.5)
            pool.submit(TrialRequest(i, mix, rung, out_dir=str(tmp_path / f"t{i}"),
                                     metric="objective"))
        while len(out) < 4 and time.monotonic() - t0 < 60:
            out += pool.wait(timeout=0.5)
    exits, hangs, silent, ok = sorted(out, key=lambda o: o.trial_index)
    assert ok.ok and ok.metrics == pytest.approx({"objective": expected(mix)})
    assert "exited with code 1" in exits.error and "CUDA out of memory" in exits.error
    assert "timed out after 3s" in hangs.error and 3 <= hangs.cost < 15
    assert "no metrics file" in silent.error
    for failed in (exits, hangs, silent):
        assert failed.error.startswith("CommandFailed: ") and "step 29" in failed.error
        assert failed.attempts == 1  # a trainer's failure is not retried like a dead actor
    left = [p.pid for p in psutil.process_iter(["cmdline"])
            if str(trainer) in " ".join(p.info["cmdline"] or [])]
    assert not left, f"trainer processes left running: {left}"  # the hung one was killed

"""``admire ask`` / ``admire tell`` on a study directory: several processes at once, a process
killed while it holds the lock, and one error line for each bad input."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ax.core.trial_status import TrialStatus
from byot_helpers import command_study, expected, write_trainer

from admire.app.ask_tell import LOCK_FILE
from admire.schema import runs
from admire.study import Study

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def admire(*args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "admire", *map(str, args)], env=ENV,
                          capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def study_dir(tmp_path) -> Path:
    config = command_study(tmp_path / "cfg", write_trainer(tmp_path / "trainer"), budget=3.0)
    admire("init", config, "--out", tmp_path / "study")
    return tmp_path / "study"


def cli(*args: object) -> str:
    """``admire ARGS`` in this process (a worker imports admire once, not per call)."""
    from typer.testing import CliRunner

    from admire.app.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def worker(directory: Path, me: int, scratch: Path) -> list[tuple[int, str]]:
    """A process asking for one trial at a time and telling its result, until ask hands out
    none for good; worker 0 reports its first trial as failed."""
    import torch

    torch.set_num_threads(1)
    told: list[tuple[int, str]] = []
    while True:
        reply = json.loads(cli("ask", directory, "--json"))
        if not reply["trials"]:
            if reply["retry"]:
                time.sleep(0.5)
                continue
            return told
        for trial in reply["trials"]:
            index = trial["trial"]
            if me == 0 and not told:
                cli("tell", directory, index, "--failed", "pretend: node lost")
                told.append((index, "failed"))
                continue
            offset = 0.1 if trial["rung"] == "large" else 0.0
            metrics = scratch / f"{index}.json"
            metrics.write_text(json.dumps({"objective": expected(trial["mixture"], offset)}))
            cost = 4.0 if trial["rung"] == "large" else 1.0
            cli("tell", directory, index, "--metrics", metrics, "--cost", cost)
            told.append((index, "completed"))


def _worker(args: tuple[Path, int, Path]) -> list[tuple[int, str]]:
    return worker(*args)


@pytest.mark.slow
def test_concurrent_processes_drive_a_study_to_its_budget_without_losing_a_trial(
        study_dir, tmp_path):
    scratch = tmp_path / "metrics"
    scratch.mkdir()
    context = multiprocessing.get_context("spawn")  # fresh processes, no forked torch state
    with context.Pool(4) as pool:
        results = pool.map(_worker, [(study_dir, me, scratch) for me in range(4)])
    told = [item for result in results for item in result]
    indices = [index for index, _ in told]
    assert len(indices) == len(set(indices)), f"a trial was handed out twice: {sorted(indices)}"
    assert sum(bool(r) for r in results) >= 2, "trials were spread over the workers"
    study = Study.load(study_dir)
    table = study.runs
    assert sorted(int(r.rsplit("-", 1)[1]) for r in table[runs.RUN_ID]) == sorted(indices)
    status = dict(zip(table[runs.RUN_ID], table[runs.STATUS], strict=True))
    for index, outcome in told:
        assert status[study.run_id(index)] == outcome
    assert not study.trials_by_status(TrialStatus.RUNNING)
    handed = set(indices) | set(study.trials_by_status(TrialStatus.ABANDONED))
    assert handed == set(study.experiment.trials)  # nothing else was created
    assert 2.0 < study.spent() <= 3.0 + 1e-9
    rec = study.recommend()
    assert rec.rung == "large" and set(rec.mixture) == {"math", "scripture", "code"}
    assert "no more trials: budget reached" in admire("ask", study_dir).stderr


def _held_by_someone(path: Path) -> bool:
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


@pytest.mark.slow
def test_a_process_killed_while_it_holds_the_lock_loses_nothing_recorded(study_dir, tmp_path):
    (first,) = json.loads(admire("ask", study_dir, "-n", "1", "--json").stdout)["trials"]
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps({"objective": 0.25}))
    admire("tell", study_dir, first["trial"], "--metrics", metrics, "--cost", 1)
    proc = subprocess.Popen([sys.executable, "-m", "admire", "ask", str(study_dir), "-n", "2"],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _held_by_someone(study_dir / LOCK_FILE) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # inside its load-modify-save
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    study = Study.load(study_dir)  # loads: every file is whole (old or new)
    assert study.trials_by_status(TrialStatus.COMPLETED) == [first["trial"]]
    reply = json.loads(admire("ask", study_dir, "--json").stdout)  # the lock died with it
    assert len(reply["trials"]) == 1 and reply["trials"][0]["trial"] != first["trial"]


def test_bad_tell_input_is_one_error_line_naming_it(study_dir, tmp_path):
    from typer.testing import CliRunner

    from admire.app.cli import app

    def tell(*args: object) -> str:
        result = CliRunner().invoke(app, ["tell", str(study_dir), *map(str, args)])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        return lines[0]

    asked = CliRunner().invoke(app, ["ask", str(study_dir), "-n", "2", "--json"])
    first, second = (t["trial"] for t in json.loads(asked.output)["trials"])
    good, nan = tmp_path / "good.json", tmp_path / "nan.json"
    good.write_text(json.dumps({"objective": 0.1}))
    nan.write_text('{"objective": NaN}')
    assert "trial 99: no trial 99 in this study" in tell(99, "--failed", "x")
    assert "nan; refused" in tell(first, "--metrics", nan, "--cost", 1)
    assert f"--metrics {tmp_path / 'missing.json'}: file not found" in tell(
        first, "--metrics", tmp_path / "missing.json", "--cost", 1)
    assert "no cost" in tell(first, "--metrics", good)
    assert "--cost: must be a finite number" in tell(first, "--metrics", good, "--cost", -1)
    assert "either --metrics" in tell(first)
    ok = CliRunner().invoke(app, ["tell", str(study_dir), str(first), "--metrics", str(good),
                                  "--cost", "1"])
    assert ok.exit_code == 0, ok.output
    assert f"trial {first}: trial {first} is completed, not running" in tell(
        first, "--failed", "again")
    missing = CliRunner().invoke(app, ["ask", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no such study directory" in missing.output
    assert Study.load(study_dir).trials_by_status(TrialStatus.RUNNING) == [second]

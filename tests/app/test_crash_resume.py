"""SIGKILL `admire tune` mid-study (the whole process group, Ray included), then `--resume`.

The kill comes once at least two trials are recorded in runs.parquet while another trial is in
flight. After the resume the study must hold every trial completed before the kill exactly once
and unchanged, have re-run each in-flight trial once, agree with its Ax experiment row for row,
and have finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import psutil
import pytest
from live_helpers import short_tempdir, write_study

from admire.schema import runs
from admire.study.ax_bridge import COST_METRIC, ax_metric_name
from admire.study.loop import RERUN_KEY

MAX_TRIALS = 8
KILL_AFTER = 2  # at least this many trials recorded before the kill
# The micro ladder trains for well under a second; three times the tokens makes a trial take
# one to three seconds here, so the kill finds trials in flight.
LONGER = {"tokens = 8192": "tokens = 24576", "tokens = 16384": "tokens = 49152"}
RUN_TIMEOUT_S = 420


def _env(home: Path, cache: Path, ray_tmp: str, marker: str) -> dict[str, str]:
    env = dict(os.environ, HOME=str(home), ADMIRE_CACHE=str(cache), RAY_TMPDIR=ray_tmp,
               RAY_AUTH_MODE="disabled", HF_HUB_OFFLINE="1", ADMIRE_TEST_MARK=marker,
               OMP_NUM_THREADS="1", COLUMNS="120")
    env.pop("RAY_ADDRESS", None)
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as sink:
        return subprocess.Popen([sys.executable, "-m", "admire", *args], env=env,
                                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def _tail(log: Path, n: int = 3000) -> str:
    return log.read_text(errors="replace")[-n:] if log.exists() else ""


def _read_table(path: Path) -> pd.DataFrame | None:
    """The runs table if it exists (written atomically, so never half a file)."""
    if not path.exists():
        return None
    return runs.read_runs(path)


def _statuses(out: Path) -> dict[int, tuple[str, dict]]:
    """Trial index -> (status name, run metadata), read raw from experiment.json."""
    path = out / "experiment.json"
    if not path.exists():
        return {}
    trials = json.loads(path.read_text(encoding="utf-8"))["trials"]
    return {int(i): (t["status"]["name"], t.get("run_metadata") or {}) for i, t in trials.items()}


def _trial(run_id: str) -> int:
    return int(run_id.rsplit("-", 1)[-1])


def _ours(marker: str, ray_tmp: str, known: dict[int, float]) -> list[psutil.Process]:
    """Live processes this test started: known descendants (pid + start time), or anything
    whose command line names our Ray temp dir or whose environment carries our marker."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "create_time"]):
        if proc.pid == os.getpid():
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if known.get(proc.pid) == proc.info["create_time"]:
                found.append(proc)
                continue
            if ray_tmp in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
                continue
            if proc.environ().get("ADMIRE_TEST_MARK") == marker:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _remember_tree(proc: subprocess.Popen, known: dict[int, float]) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        for child in psutil.Process(proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                known[child.pid] = child.create_time()


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # start_new_session: group id == leader's PID
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _reap_leftovers(marker: str, ray_tmp: str, known: dict[int, float],
                    grace_s: float = 20.0) -> list[str]:
    """Wait up to ``grace_s`` for our processes to go; SIGKILL (by PID) what is still there and
    return a description of it."""
    deadline = time.monotonic() + grace_s
    while (left := _ours(marker, ray_tmp, known)) and time.monotonic() < deadline:
        time.sleep(0.2)
    described = []
    for proc in left:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            described.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
            proc.kill()
    psutil.wait_procs(left, timeout=10)
    return described


@pytest.mark.slow
def test_sigkill_mid_study_then_resume_keeps_completed_trials_once(tmp_path, record_property):
    cache, home = tmp_path / "cache", tmp_path / "home"
    home.mkdir()
    config = write_study(tmp_path / "study", cache, name="crash", max_trials=MAX_TRIALS,
                         max_parallel=2)
    ladder = tmp_path / "study" / "ladder.toml"
    text = ladder.read_text()
    for old, new in LONGER.items():
        assert old in text
        text = text.replace(old, new)
    ladder.write_text(text)
    out = tmp_path / "out"
    ray_tmp = short_tempdir()  # the Ray session dir lives here: every raylet/gcs names it
    marker = uuid.uuid4().hex
    env = _env(home, cache, ray_tmp, marker)
    log = tmp_path / "tune.log"
    known: dict[int, float] = {}
    t0 = time.monotonic()
    proc = _start(["tune", str(config), "--out", str(out)], env, log)
    try:
        # --- run until >= KILL_AFTER trials are recorded and two more are in flight (one will
        # do near the end) ------------------------------------------------------------------
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while True:
            _remember_tree(proc, known)
            table = _read_table(out / "runs.parquet")
            recorded = set() if table is None else {_trial(r) for r in table[runs.RUN_ID]}
            running = {i for i, (s, _) in _statuses(out).items() if s == "RUNNING"}
            flying = len(running - recorded)
            if len(recorded) >= KILL_AFTER and (flying >= 2 or (
                    flying and len(recorded) >= MAX_TRIALS - 3)):
                break
            assert proc.poll() is None, f"tune ended before the kill:\n{_tail(log)}"
            assert time.monotonic() < deadline, f"no kill point in time:\n{_tail(log)}"
            time.sleep(0.05)
        _remember_tree(proc, known)
        names = {p.name() for p in _ours(marker, ray_tmp, known)}
        assert {"raylet", "gcs_server"} <= names, names  # the scan sees the cluster
        _kill_group(proc)
        kill_s = time.monotonic() - t0
        leftovers = _reap_leftovers(marker, ray_tmp, known)
        assert leftovers == [], f"processes survived the group kill: {leftovers}"
    finally:
        _kill_group(proc)
        _reap_leftovers(marker, ray_tmp, known, grace_s=0)

    # --- the state the kill left ---------------------------------------------------------------
    before = runs.read_runs(out / "runs.parquet")
    at_kill = _statuses(out)
    recorded = {_trial(r) for r in before[runs.RUN_ID]}
    in_flight = sorted(i for i, (s, _) in at_kill.items() if s == "RUNNING")
    crash_window = sorted(set(in_flight) & recorded)  # row written, experiment not yet
    to_rerun = sorted(set(in_flight) - recorded)
    assert len(before) >= KILL_AFTER and to_rerun
    completed_before = before[before[runs.STATUS] == runs.COMPLETED]
    print(f"\nkilled after {kill_s:.1f}s: {len(completed_before)} completed, "
          f"{len(before)} recorded (trials {sorted(recorded)}), in flight {in_flight} "
          f"(row already written for {crash_window}), {len(known)} descendant processes")

    # --- resume to the end -----------------------------------------------------------------------
    t1 = time.monotonic()
    resume = _start(["tune", str(config), "--out", str(out), "--resume"], env, log)
    try:
        try:
            rc = resume.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"resume did not finish in {RUN_TIMEOUT_S}s:\n{_tail(log)}")
        assert rc == 0, _tail(log)
    finally:
        _remember_tree(resume, known)
        _kill_group(resume)
        leftovers = _reap_leftovers(marker, ray_tmp, known)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert leftovers == [], f"processes left after the resumed run: {leftovers}"
    resume_s = time.monotonic() - t1

    final = runs.read_runs(out / "runs.parquet")
    ids = final[runs.RUN_ID]
    assert ids.is_unique
    indices = ids.map(_trial)
    assert indices.is_unique  # no trial recorded twice

    # Every row written before the kill is still there, once, unchanged.
    kept = final.set_index(runs.RUN_ID).loc[before[runs.RUN_ID]]
    pd.testing.assert_frame_equal(kept[[c for c in before.columns if c != runs.RUN_ID]],
                                  before.set_index(runs.RUN_ID), check_exact=True)

    # In-flight trials were re-run exactly once (the flag is set once per restart), the others
    # never; each re-run trial has one row now.
    from ax.storage.json_store.load import load_experiment

    experiment = load_experiment(str(out / "experiment.json"))
    reran = sorted(i for i, t in experiment.trials.items() if t.run_metadata.get(RERUN_KEY))
    assert reran == to_rerun
    assert set(reran) <= set(indices)
    assert not any(_statuses(out)[i][0] == "RUNNING" for i in experiment.trials)
    print(f"resume took {resume_s:.1f}s; re-ran {reran} once each")

    # The runs table and the Ax experiment agree trial for trial.
    completed_rows = final[final[runs.STATUS] == runs.COMPLETED].set_index(indices)
    completed_ax = {i for i, t in experiment.trials.items() if t.status.is_completed}
    failed_ax = {i for i, t in experiment.trials.items() if t.status.is_failed}
    assert completed_ax == set(completed_rows.index)
    assert failed_ax == set(indices) - completed_ax
    data = experiment.lookup_data().df
    for metric, column in ((ax_metric_name("objective"), "m:objective"),
                           (COST_METRIC, runs.COST)):
        values = data[data["metric_name"] == metric].set_index("trial_index")["mean"]
        assert values.index.is_unique and set(values.index) == completed_ax
        # Ax's JSON store keeps about 10 significant digits; the runs table keeps them all.
        assert values.sort_index().to_dict() == pytest.approx(
            completed_rows[column].sort_index().to_dict(), rel=1e-9)

    # The study finished.
    rec = json.loads((out / "recommendation.json").read_text())
    assert rec["stop_reason"] == f"max_trials reached ({MAX_TRIALS})"
    assert len(experiment.trials) == MAX_TRIALS and len(final) == MAX_TRIALS
    assert rec["recommendation"] is not None

    for key, value in {"completed_at_kill": len(completed_before), "in_flight_at_kill": in_flight,
                       "crash_window": crash_window, "reran": reran,
                       "kill_after_s": round(kill_s, 1), "resume_s": round(resume_s, 1)}.items():
        record_property(key, value)

"""Live studies on a multi-node Ray cluster on this machine (``LocalCluster``): a head with no
CPUs for trials (the driver's node, as in ``ray_cluster/cluster.yaml``) and worker nodes with
different resources: two ``small`` nodes and one ``big`` node (custom resources standing in for
GPU node types), token auth on as on a stock head.

What it shows, with the micro ladder (trials of seconds):

* trials land on nodes by their rung's resources;
* a node killed mid-trial: the trial is retried once on another node, then failed, and the
  study goes on (on a node that joins afterwards, as an autoscaler's replacement would);
* the driver (``admire tune --address``) SIGKILLed: ``--resume --address`` finishes the study on
  the same cluster, every recorded trial kept once;
* ``admire submit`` to the cluster's job server runs a study to completion;
* nothing the tests started is left running afterwards.

Run it alone with ``pytest tests/evaluators/ray/test_multinode.py``; the tests share one
cluster and run in file order (the node-kill test changes the cluster, so it comes last).
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from live_helpers import (
    LocalCluster,
    marked,
    micro_ladder,
    pickle_helpers_by_value,
    placement_work,
    slow_first_work,
    token_headers,
    write_study,
)
from rich.console import Console
from typer.testing import CliRunner

from admire.app.cli import app
from admire.app.tune import tune
from admire.evaluators.ray.connect import Connection, connect, disconnect

pytestmark = pytest.mark.slow

SPREAD = {"r0": {"small": 1}, "r1": {"big": 1}}  # cheap rung on small nodes, target on big
SMALL = {"small-a", "small-b"}
RUN_TIMEOUT_S = 240


class Running:
    """The module's cluster and this process's driver connection to it."""

    def __init__(self) -> None:
        self.cluster = LocalCluster(head_cpus=0)
        self.connection: Connection | None = None
        self.left: list[str] | None = None

    def start(self) -> None:
        self.cluster.add_node("small-a", 1, {"small": 1})
        self.cluster.add_node("small-b", 1, {"small": 1})
        self.cluster.add_node("big", 1, {"big": 1})
        self.connection = connect(self.cluster.address)
        pickle_helpers_by_value()

    def stop(self) -> list[str]:
        """Idempotent: the last test stops it and checks; the fixture makes sure."""
        if self.left is None:
            if self.connection is not None:
                disconnect(self.connection)
            self.left = self.cluster.stop()
        return self.left


@pytest.fixture(scope="module")
def running():
    run = Running()
    try:
        run.start()
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("corpora")


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def runs_table(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "runs.parquet")


def placements(log: Path, cluster: LocalCluster) -> list[tuple[int, str, str]]:
    """(trial, rung, node name) of every trial start the workers logged."""
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return [(d["trial"], d["rung"], cluster.name_of(d["node"])) for d in lines]


def test_trials_spread_over_nodes_by_their_rungs_resources(running, cache, tmp_path):
    """Six trials, up to three at a time, through the pool a study uses: the cheap rung's on
    the two small nodes, the target rung's on the big one (the strategy picks rungs itself, so
    the trials are submitted directly here; the studies below run on the same ladder)."""
    import tomllib

    from admire.evaluators.ray.pool import RayProxyPool
    from admire.evaluators.ray.worker import CorporaSource, TrialRequest
    from admire.proxy.corpora import CorpusConfig, build_corpora
    from admire.schema.ladder import ladder_from_dict

    cluster = running.cluster
    ladder = ladder_from_dict(tomllib.loads(micro_ladder(SPREAD)), where="spread")
    corpus = CorpusConfig(max_bytes=40_000)
    domains = {"math": "math", "scripture": "scripture"}
    source = CorporaSource.of(build_corpora(domains, corpus, cache_dir=cache), domains, corpus)
    log = tmp_path / "placement.jsonl"
    rungs = ["r0", "r0", "r0", "r1", "r0", "r1"]
    mixture = {"math": 0.5, "scripture": 0.5}
    outcomes = []
    deadline = time.monotonic() + RUN_TIMEOUT_S
    with RayProxyPool(source, ladder, 3, work=functools.partial(placement_work, str(log))) as pool:
        assert pool.resources["r1"].custom_resources == {"big": 1.0}
        # Three cheap trials for two small nodes: the third one's new actor cannot start until
        # a small node is free, and a finished trial's idle actor keeps its node reserved.
        for index in range(3):
            pool.submit(TrialRequest(index, mixture, ladder.rung("r0")))
        while len(outcomes) < 3:
            outcomes += pool.wait(timeout=1.0)
            assert time.monotonic() < deadline, f"{len(outcomes)} of 3 finished: deadlock"
        queue = list(enumerate(rungs))[3:]
        while len(outcomes) < len(rungs):
            while queue and pool.free > 0:
                index, rung = queue.pop(0)
                pool.submit(TrialRequest(index, mixture, ladder.rung(rung)))
            outcomes += pool.wait(timeout=1.0)
            assert time.monotonic() < deadline, f"{len(outcomes)} of {len(rungs)} finished"
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    placed = placements(log, cluster)
    assert sorted(t for t, _, _ in placed) == list(range(len(rungs)))  # each trial ran once
    nodes = {rung: {node for _, r, node in placed if r == rung} for rung in ("r0", "r1")}
    assert nodes["r0"] == SMALL, placed  # the cheap rung on (both) small nodes only
    assert nodes["r1"] == {"big"}, placed  # the target rung on the big node only
    pids = {d["trial"]: d["pid"] for d in map(json.loads, log.read_text().splitlines())}
    assert pids[2] in {pids[0], pids[1]}  # the third trial moved to a warm actor
    print(f"\nplacements: {sorted(placed)}")


def test_a_killed_driver_resumes_on_the_same_cluster_keeping_every_trial_once(
        running, cache, tmp_path):
    cluster = running.cluster
    max_trials = 6
    config = write_study(tmp_path / "study", cache, name="driver", max_trials=max_trials,
                         ladder=micro_ladder(SPREAD, token_scale=3))
    out, log = tmp_path / "out", tmp_path / "tune.log"
    env = dict(os.environ, COLUMNS="120", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    env.pop("RAY_AUTH_MODE", None)  # a fresh shell: admire must find the cluster's token itself
    args = [sys.executable, "-m", "admire", "tune", str(config), "--out", str(out),
            "--address", cluster.address]

    def start(*extra: str) -> subprocess.Popen:
        with log.open("ab") as sink:
            return subprocess.Popen([*args, *extra], env=env, stdout=sink,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    driver = start()
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while True:  # kill once two trials are recorded and another is in flight
            recorded = set(runs_table(out)["run_id"]) if (out / "runs.parquet").exists() else set()
            running_now = _running_trials(out) - {_trial(r) for r in recorded}
            if len(recorded) >= 2 and running_now:
                break
            assert driver.poll() is None, f"tune ended before the kill:\n{_tail(log)}"
            assert time.monotonic() < deadline, f"no kill point:\n{_tail(log)}"
            time.sleep(0.1)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            os.kill(driver.pid, signal.SIGKILL)
    before = runs_table(out)
    print(f"\nkilled with {len(before)} trials recorded, {sorted(running_now)} in flight")

    resume = start("--resume")
    try:
        rc = resume.wait(timeout=RUN_TIMEOUT_S)
    finally:
        if resume.poll() is None:
            os.kill(resume.pid, signal.SIGKILL)
    assert rc == 0, _tail(log)
    final = runs_table(out)
    assert final["run_id"].is_unique and len(final) == max_trials
    kept = final.set_index("run_id").loc[before["run_id"]]
    pd.testing.assert_frame_equal(kept, before.set_index("run_id"), check_exact=True)
    assert running_now <= {_trial(r) for r in final["run_id"]}  # the in-flight ones re-ran
    rec = json.loads((out / "recommendation.json").read_text())
    assert rec["stop_reason"] == f"max_trials reached ({max_trials})", _tail(log)


def test_admire_submit_runs_a_study_on_the_clusters_job_server(running, cache, tmp_path):
    from ray.job_submission import JobStatus, JobSubmissionClient

    cluster = running.cluster
    project = tmp_path / "project"
    config = write_study(project, cache, name="submitted", max_trials=3,
                         ladder=micro_ladder(SPREAD))
    out = tmp_path / "job-out"
    result = CliRunner().invoke(app, ["submit", str(config), "--address", cluster.dashboard_url,
                                      "--out", str(out), "--working-dir", str(project)])
    assert result.exit_code == 0, result.output
    job_id = re.search(r"as job (\S+)", result.output).group(1)
    client = JobSubmissionClient(cluster.dashboard_url, headers=token_headers())
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not client.get_job_status(job_id).is_terminal():
        assert time.monotonic() < deadline, client.get_job_logs(job_id)[-3000:]
        time.sleep(2)
    logs = client.get_job_logs(job_id)
    assert client.get_job_status(job_id) == JobStatus.SUCCEEDED, logs[-3000:]
    assert "max_trials reached (3)" in logs
    rec = json.loads((out / "recommendation.json").read_text())
    assert rec["recommendation"]["rung"] == "r1" and rec["failures"] == []


def test_a_node_killed_mid_trial_is_retried_on_another_node_then_failed(
        running, cache, tmp_path):
    cluster = running.cluster
    config = write_study(tmp_path / "study", cache, name="nodekill", max_trials=3,
                         max_parallel=1, ladder=micro_ladder({"r0": {"small": 1},
                                                              "r1": {"small": 1}}))
    killed: list[str] = []

    def kill_the_node_of_trial_0(pool, request, attempt: int) -> None:
        if request.trial_index != 0:
            return
        node = cluster.node_of(pool.pid_of(0))
        assert node in SMALL and node not in killed, (node, killed)
        time.sleep(0.5)  # let the trial start
        cluster.kill_node(node)
        killed.append(node)
        if attempt == 2:  # both small nodes are gone: a replacement joins, the study goes on
            cluster.add_node("small-c", 1, {"small": 1})

    result = tune(config, tmp_path / "out", address=cluster.address, console=quiet(),
                  work=slow_first_work, on_start=kill_the_node_of_trial_0)
    assert sorted(killed) == sorted(SMALL)  # attempt 1 and its retry ran on different nodes
    table = runs_table(tmp_path / "out").set_index("run_id")
    assert table["status"].tolist() == ["failed", "completed", "completed"], table
    rec = json.loads((tmp_path / "out" / "recommendation.json").read_text())
    (failure,) = rec["failures"]
    assert failure["trial"] == 0
    assert failure["reason"].startswith("worker died during the trial (2 attempts)")
    assert result.stop_reason == "max_trials reached (3)"
    print(f"\nkilled {killed}; reason: {failure['reason'][:160]}")


def test_nothing_is_left_running_after_the_cluster_stops(running):
    mark = running.cluster.mark
    assert {p.name() for p in marked(mark)} >= {"raylet", "gcs_server"}  # the scan sees it
    killed = running.stop()
    assert marked(mark) == []
    print(f"\nhad to SIGKILL after the grace period: {killed}")


# --- reading the study while it runs ---------------------------------------------------------


def _trial(run_id: str) -> int:
    return int(run_id.rsplit("-", 1)[-1])


def _running_trials(out: Path) -> set[int]:
    """Trials the saved Ax experiment lists as running."""
    path = out / "experiment.json"
    if not path.exists():
        return set()
    try:
        trials = json.loads(path.read_text(encoding="utf-8"))["trials"]
    except (ValueError, KeyError):
        return set()
    return {int(i) for i, t in trials.items() if t["status"]["name"] == "RUNNING"}


def _tail(log: Path, n: int = 3000) -> str:
    return log.read_text(errors="replace")[-n:] if log.exists() else ""

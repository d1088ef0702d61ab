"""The Ray actor pool: resources per rung, trial errors as failures, one retry for a dead actor."""

from __future__ import annotations

import os
import signal
import time

import pytest
from live_helpers import MICRO_LADDER, embedded_ray

from admire.errors import ConfigError
from admire.evaluators.base import Outcome
from admire.evaluators.ray.pool import RayProxyPool
from admire.evaluators.ray.worker import CorporaSource, Resources, TrialRequest, rung_resources
from admire.proxy.corpora import CorpusConfig, build_corpora
from admire.schema.ladder import FidelityLadder, Rung, ladder_from_dict


def rung(**spec) -> Rung:
    return Rung("r", 1.0, 1.0, spec)


def test_rung_resources_use_gpus_only_when_the_cluster_has_them():
    assert rung_resources(rung(), {"CPU": 2.0}, 2) == Resources(1.0, 0.0)
    assert rung_resources(rung(), {"CPU": 3.0}, 2).num_cpus == 1.0
    gpu = {"CPU": 16.0, "GPU": 2.0}
    assert rung_resources(rung(), gpu, 2) == Resources(8.0, 1.0)
    assert rung_resources(rung(), gpu, 4).num_gpus == 0.5  # slots share the GPUs
    assert rung_resources(rung(num_gpus=2, num_cpus=4), gpu, 1) == Resources(4.0, 2.0)
    on_cpu = rung_resources(rung(num_gpus=1), {"CPU": 4.0}, 2)
    assert on_cpu.num_gpus == 0 and on_cpu.device == "cpu"
    assert rung_resources(rung(), gpu, 2).device == "cuda"


@pytest.mark.parametrize(("spec", "cluster", "field"), [
    ({"num_gpus": 4}, {"CPU": 8.0, "GPU": 2.0}, "num_gpus"),
    ({"num_cpus": 64}, {"CPU": 8.0}, "num_cpus"),
    ({"num_gpus": "one"}, {"CPU": 8.0, "GPU": 1.0}, "num_gpus"),
    ({"num_cpus": -1}, {"CPU": 8.0}, "num_cpus"),
])
def test_impossible_rung_resources_name_the_rung_field(spec, cluster, field):
    with pytest.raises(ConfigError) as err:
        rung_resources(rung(**spec), cluster, 1)
    assert err.value.where == f"rung 'r'.{field}"


NODES = [{"CPU": 0.0, "node:__internal_head__": 1.0}, {"CPU": 2.0, "small": 1.0},
         {"CPU": 2.0, "small": 1.0}, {"CPU": 4.0, "big": 1.0, "node:10.0.0.7": 1.0}]
TOTAL = {"CPU": 8.0, "small": 2.0, "big": 1.0}


def test_rung_resources_on_several_nodes_follow_the_rungs_custom_resources():
    big = rung_resources(rung(resources={"big": 1}), TOTAL, 2, NODES)
    assert big == Resources(2.0, 0.0, (("big", 1.0),))  # half of the one big node's CPUs
    assert big.custom_resources == {"big": 1.0}
    small = rung_resources(rung(resources={"small": 1}), TOTAL, 1, NODES)
    assert small == Resources(2.0, 0.0, (("small", 1.0),))  # one node's worth, not 4
    assert rung_resources(rung(), TOTAL, 1, NODES).num_cpus == 4.0  # never more than one node
    assert rung_resources(rung(), TOTAL, 4, NODES).num_cpus == 2.0


@pytest.mark.parametrize(("spec", "where", "says"), [
    ({"resources": {"a100": 1}}, "resources", "no node of the cluster offers {a100 = 1}"),
    ({"resources": {"big": 2}}, "resources", "custom resources on its nodes: big, small"),
    ({"resources": {"big": -1}}, "resources.big", "must be a number > 0"),
    ({"resources": {"CPU": 1}}, "resources.CPU", "use the rung's num_cpus"),
    ({"resources": "big"}, "resources", "must be a table"),
    ({"num_cpus": 3}, "num_cpus", "the largest node has 2"),
])
def test_impossible_rung_resources_on_several_nodes_name_the_field(spec, where, says):
    nodes = [n for n in NODES if "big" not in n]
    nodes.append({"CPU": 2.0, "big": 1.0})
    with pytest.raises(ConfigError) as err:
        rung_resources(rung(**spec), TOTAL, 1, nodes)
    assert err.value.where == f"rung 'r'.{where}"
    assert says in str(err.value)


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    import tomllib

    ladder = ladder_from_dict(tomllib.loads(MICRO_LADDER), where="micro")
    corpus = CorpusConfig(max_bytes=40_000)
    domains = {"math": "math", "scripture": "scripture"}
    corpora = build_corpora(domains, corpus, cache_dir=tmp_path_factory.mktemp("cache"))
    with embedded_ray():
        yield ladder, CorporaSource.of(corpora, domains, corpus)


def wait_all(pool: RayProxyPool, n: int, timeout: float = 120.0) -> list[Outcome]:
    out: list[Outcome] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        out += pool.wait(timeout=0.5)
    assert len(out) == n, f"only {len(out)} of {n} trials finished"
    return sorted(out, key=lambda o: o.trial_index)


def test_pool_trains_and_reports_trial_errors_as_failures(micro):
    ladder, source = micro
    r0 = ladder.rungs[0]
    bad = Rung("bad", 1.0, 1.0, {**r0.spec, "model": {**r0.spec["model"], "hidden_size": 30}})
    with RayProxyPool(source, FidelityLadder((r0, bad), name="t"), 2) as pool:
        pool.submit(TrialRequest(0, {"math": 0.5, "scripture": 0.5}, r0, seed=3))
        pool.submit(TrialRequest(1, {"math": 0.9, "scripture": 0.1}, r0,
                                 max_epochs={"math": 0.01}))
        good, refused = wait_all(pool, 2)
        pool.submit(TrialRequest(2, {"math": 0.5, "scripture": 0.5}, bad))
        (broken,) = wait_all(pool, 1)
    assert good.ok and good.seed == 3 and good.cost > 0
    assert {"objective", "val_loss:math", "val_loss:scripture", "wall_s"} <= set(good.metrics)
    assert refused.error.startswith("RepetitionLimitError: ")
    assert "'math'" in refused.error and refused.metrics is None
    assert broken.error.startswith("ConfigError: ") and "hidden_size" in broken.error


def test_a_killed_actor_is_retried_once_on_a_fresh_actor_then_failed(micro):
    from live_helpers import slow_first_work

    ladder, source = micro
    pids: list[int] = []

    def kill_trial_0(pool: RayProxyPool, request: TrialRequest, attempt: int) -> None:
        if request.trial_index == 0:
            pid = pool.pid_of(0)
            pids.append(pid)
            time.sleep(0.5)  # let the trial start
            os.kill(pid, signal.SIGKILL)

    r0 = ladder.rungs[0]
    with RayProxyPool(source, ladder, 2, work=slow_first_work, on_start=kill_trial_0) as pool:
        pool.submit(TrialRequest(0, {"math": 0.5, "scripture": 0.5}, r0))
        (dead,) = wait_all(pool, 1)
        pool.submit(TrialRequest(1, {"math": 0.5, "scripture": 0.5}, r0))
        (after,) = wait_all(pool, 1)
    assert len(pids) == 2 and pids[0] != pids[1]  # the retry ran in a new process
    assert not dead.ok and dead.attempts == 2
    assert dead.error.startswith("worker died during the trial (2 attempts)")
    assert "ActorDiedError" in dead.error
    assert after.ok  # the pool goes on

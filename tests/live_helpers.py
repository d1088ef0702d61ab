"""Tiny live studies for the Ray tests: a two-rung micro ladder (trials of a second or less),
three small built-in domains, and Ray on loopback (an embedded cluster, a stock ``ray start``
head, a multi-node cluster) with Ray's default token auth, stopped by PID.

Work functions used by actors live here (not in a test module) and are pickled by value, so Ray
workers need not import the tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil

MICRO_LADDER = """
name = "micro"

[[rung]]
name = "r0"
cost_estimate = 1.0
[rung.model]
hidden_size = 32
num_hidden_layers = 1
num_attention_heads = 2
intermediate_size = 64
max_position_embeddings = 64
[rung.train]
tokens = 8192
batch_size = 8
seq_len = 64
lr = 1e-2
eval_tokens = 1024

[[rung]]
name = "r1"
cost_estimate = 2.0
[rung.model]
hidden_size = 48
num_hidden_layers = 1
num_attention_heads = 2
intermediate_size = 96
max_position_embeddings = 64
[rung.train]
tokens = 16384
batch_size = 8
seq_len = 64
lr = 1e-2
eval_tokens = 1024
"""


def micro_ladder(resources: Mapping[str, Mapping[str, float]] | None = None,
                 token_scale: int = 1) -> str:
    """The micro ladder, with a ``resources = {...}`` table per rung (``{"r0": {"small": 1}}``)
    and ``token_scale`` times the training tokens (longer trials, for kills mid-trial)."""
    lines = []
    for line in MICRO_LADDER.splitlines():
        if line.startswith("tokens = "):
            line = f"tokens = {int(line.split('=')[1]) * token_scale}"
        lines.append(line)
        rung = line[len('name = "'):-1] if line.startswith('name = "r') else None
        if rung and resources and rung in resources:
            table = ", ".join(f"{k} = {v:g}" for k, v in resources[rung].items())
            lines.append(f"resources = {{ {table} }}")
    return "\n".join(lines) + "\n"


def write_study(folder: Path, cache_dir: Path, *, name: str = "micro", max_trials: int = 4,
                max_parallel: int = 2, code_max_epochs: float = 2.0,
                extra_proxy: str = "", ladder: str = MICRO_LADDER,
                confirm_seeds: int | None = 0) -> Path:
    """A micro study config (and its ladder) in ``folder``; returns the config path.
    ``confirm_seeds`` None leaves admire's default (a confirmation after the study)."""
    confirm = "" if confirm_seeds is None else f"confirm_seeds = {confirm_seeds}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ladder.toml").write_text(ladder, encoding="utf-8")
    config = folder / "study.toml"
    config.write_text(f"""
[study]
name = "{name}"
max_trials = {max_trials}
max_parallel = {max_parallel}
{confirm}

[objective]
metric = "objective"
minimize = true

[ladder]
path = "ladder.toml"

[[domain]]
name = "math"
[[domain]]
name = "scripture"
[[domain]]
name = "code"
max_epochs = {code_max_epochs}

[policy]
name = "kg"
initial_trials = 2

[proxy]
objective = {{ mean_over = ["math", "code"] }}
cache_dir = "{cache_dir}"
{extra_proxy}
[proxy.corpus]
max_bytes = 40000
""", encoding="utf-8")
    return config


# --- work functions run by actors (pickled by value) -------------------------------------------


def fake_work(corpora, request, device) -> tuple[Mapping[str, float], float]:
    """No training: :func:`smooth_work`, but trial 1 returns NaN."""
    metrics, cost = smooth_work(corpora, request, device)
    return ({"objective": float("nan")} if request.trial_index == 1 else metrics), cost


def smooth_work(corpora, request, device) -> tuple[Mapping[str, float], float]:
    """No training: a smooth function of the mixture."""
    w = request.mixture
    value = (w["math"] - 0.5) ** 2 + (w["code"] - 0.3) ** 2 + {"r0": 0.2, "r1": 0.0}[
        request.rung.name]
    return {"objective": value}, 0.05


def seed_noise_work(corpora, request, device) -> tuple[Mapping[str, float], float]:
    """No training: :func:`smooth_work` plus a fixed deviation per (seed, mixture), up to
    +-0.01, like the spread between seeds of a real run."""
    metrics, cost = smooth_work(corpora, request, device)
    bump = (request.seed * 7919 + round(request.mixture["math"] * 1000)) % 11 - 5
    return {"objective": metrics["objective"] + 0.002 * bump}, cost


def slow_first_work(corpora, request, device) -> tuple[Mapping[str, float], float]:
    """Trial 0 takes a minute (so it can be killed mid-trial); the others train for real."""
    from admire.evaluators.ray.worker import train_trial

    if request.trial_index == 0:
        time.sleep(60)
    return train_trial(corpora, request, device)


def placement_work(log: str, corpora, request, device) -> tuple[Mapping[str, float], float]:
    """Train for real, and append where the trial ran (Ray node id, PID, the resources the actor
    holds) to ``log`` as a JSON line. Bind ``log`` with ``functools.partial``."""
    import ray

    from admire.evaluators.ray.worker import train_trial

    ctx = ray.get_runtime_context()
    line = {"trial": request.trial_index, "rung": request.rung.name, "node": ctx.get_node_id(),
            "pid": os.getpid(), "resources": ctx.get_assigned_resources()}
    with open(log, "a", encoding="utf-8") as sink:
        sink.write(json.dumps(line) + "\n")
    return train_trial(corpora, request, device)


def pickle_helpers_by_value() -> None:
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


# --- Ray on loopback ---------------------------------------------------------------------------

MARK = "ADMIRE_TEST_RAY_MARK"  # every process a helper starts carries it, so it can be found
# Declare a killed node dead in about 4 s (Ray's default health check takes 15-30 s).
FAST_HEALTH_CHECK = {"health_check_period_ms": 1000, "health_check_timeout_ms": 1000,
                     "health_check_failure_threshold": 3}


def short_tempdir() -> str:
    """Ray's socket paths must stay under ~107 characters: pytest's tmp_path is too deep."""
    return tempfile.mkdtemp(prefix="ar", dir="/tmp")


@contextlib.contextmanager
def embedded_ray(num_cpus: int = 2) -> Iterator[None]:
    """One embedded cluster on 127.0.0.1; ``ray.shutdown`` stops the processes it started."""
    import ray

    from admire.evaluators.ray.connect import connect, disconnect

    temp = short_tempdir()
    connection = connect(num_cpus=num_cpus, temp_dir=temp)
    pickle_helpers_by_value()
    try:
        yield
    finally:
        disconnect(connection)
        assert not ray.is_initialized()
        shutil.rmtree(temp, ignore_errors=True)


_HANDED_OUT: set[int] = set()


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for ports bound to 0 and outgoing sockets (Linux's default if the
    file is missing)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port nothing listens on, outside the ephemeral range and Ray's worker ports, and never
    handed out before in this process. A port from ``bind(0)`` is one the kernel may give the
    next outgoing socket or gRPC server (Ray starts dozens) before Ray binds it: the multinode
    cluster's dashboard lost its port so in CI (stop 32)."""
    low, high = ephemeral_range()
    # Ray's workers take 10002-19999 by default and `ray start` refuses other ports there
    start, stop = (20_000, low) if low - 20_000 >= 5_000 else (high + 1, 65_536)
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(start, stop)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port in [{start}, {stop})")


def own_ports() -> list[str]:
    """``ray start`` flags giving a node ports of its own. The defaults are fixed (the dashboard
    agent 52365, Ray Client 10001): a second head on the machine then has no job agent, and
    submissions fail with "No available agent" (measured)."""
    flags = ("--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
             "--runtime-env-agent-port", "--metrics-export-port", "--ray-client-server-port",
             "--node-manager-port", "--object-manager-port")
    return [part for flag in flags for part in (flag, str(free_port()))]


def ensure_token() -> Path:
    """The token a stock head of this (test) user turns token auth on with: ``~/.ray/auth_token``
    under the session's temporary HOME, created as Ray creates it."""
    from ray._private.authentication.authentication_token_setup import (
        _get_default_token_path,
        generate_and_save_token,
    )

    path = _get_default_token_path()
    if not path.exists():
        generate_and_save_token()
    return path


def token_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ensure_token().read_text().strip()}"}


# --- finding and stopping what a test started ---------------------------------------------------


def marked(mark: str) -> list[psutil.Process]:
    """Live processes whose environment carries ``MARK=mark`` (Ray workers retitle themselves
    and start their own sessions, but inherit the environment), this one excepted."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE and proc.environ().get(MARK) == mark:
                found.append(proc)
    return found


def describe(procs: list[psutil.Process]) -> list[str]:
    out = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            out.append(f"{proc.pid} {proc.name()}")
    return out


def reap(mark: str, grace_s: float = 10.0) -> list[str]:
    """Wait up to ``grace_s`` for the marked processes to end, then SIGKILL (by PID) those left;
    returns what had to be killed."""
    deadline = time.monotonic() + grace_s
    while (left := marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    killed = describe(left)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(left, timeout=10)
    return killed


def stop_group(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM the process group we created, then SIGKILL what is left (gcs_server and the
    blocking ``ray start`` itself often ignore SIGTERM)."""
    group = proc.pid  # start_new_session: the group id is the leader's PID
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


# --- a stock head: `ray start --head` as ray_cluster/README.md says ---------------------------


def ray_env(mark: str, **extra: str) -> dict[str, str]:
    """This environment for a Ray process: the session HOME (and its token), loopback only, the
    marker; Ray's auth variables only as given (none: Ray's default)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")}
    env.update({"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0",
                MARK: mark, **extra})
    return env


def wait_for_jobs_api(url: str, proc: subprocess.Popen | None = None,
                      timeout_s: float = 120.0) -> None:
    from ray.job_submission import JobSubmissionClient

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            JobSubmissionClient(url, headers=token_headers()).list_jobs()
            return
        except Exception:  # noqa: BLE001 - not up yet
            if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"no Ray job server at {url}") from None
            time.sleep(1)


@contextlib.contextmanager
def ray_head(num_cpus: int = 2, *, auth: str = "stock") -> Iterator[str]:
    """``ray start --head`` on loopback, the README's way, in its own process group; yields the
    dashboard URL. ``auth="stock"``: Ray's default, which is token auth because this user has a
    token (as after any local ``ray.init``); ``auth="disabled"``: ``RAY_AUTH_MODE=disabled``.

    Stopped by PID (SIGTERM, then SIGKILL after a grace period): never ``ray stop``, which
    matches processes by name and would stop colleagues' clusters too.
    """
    ensure_token()
    port, dashboard = free_port(), free_port()
    temp = short_tempdir()
    mark = uuid.uuid4().hex
    extra = {"RAY_AUTH_MODE": "disabled"} if auth == "disabled" else {}
    ray_bin = str(Path(sys.executable).with_name("ray"))
    proc = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
         "--dashboard-host", "127.0.0.1", "--port", str(port), "--dashboard-port",
         str(dashboard), "--num-cpus", str(num_cpus), "--include-dashboard", "true",
         "--temp-dir", temp, "--disable-usage-stats", *own_ports()],
        env=ray_env(mark, **extra), start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{dashboard}"
    try:
        wait_for_jobs_api(url, proc)
        yield url
    finally:
        stop_group(proc)
        reap(mark, grace_s=5.0)
        shutil.rmtree(temp, ignore_errors=True)


# --- several nodes on this machine ----------------------------------------------------------------


def _reload_auth_mode() -> None:
    """Make Ray in this process re-read ``RAY_AUTH_MODE`` (it caches it in its C++ config)."""
    from ray._raylet import Config

    Config.initialize("")


class LocalCluster:
    """A multi-node Ray cluster on this machine (``ray.cluster_utils.Cluster``): a head with the
    GCS, the dashboard and the job server, plus worker nodes, each its own raylet with its own
    resources, all bound to 127.0.0.1, with token auth on as on a stock head.

    ``ray start`` cannot build this on loopback: a worker node refuses to join with Ray's
    single-node switch on, and without it rewrites 127.0.0.1 to the machine's routable address.
    Every process carries a marker in its environment; :meth:`stop` ends them by PID. The
    cluster's address file goes to its own ``RAY_TMPDIR``, never to ``/tmp/ray``.
    """

    def __init__(self, head_cpus: int = 0) -> None:
        from ray.cluster_utils import Cluster

        self.mark = uuid.uuid4().hex
        self.root = short_tempdir()
        (Path(self.root) / "ray").mkdir()
        self._saved = {k: os.environ.get(k) for k in
                       (MARK, "RAY_TMPDIR", "RAY_AUTH_MODE", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
        os.environ.update({MARK: self.mark, "RAY_TMPDIR": self.root, "RAY_AUTH_MODE": "token",
                           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"})
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False
        _reload_auth_mode()  # this process is one of the cluster's clients: token mode too
        ensure_token()
        self.dashboard_port = free_port()
        self.nodes: dict[str, Any] = {}  # alive worker nodes by name
        self.node_ids: dict[str, str] = {}  # every worker node ever added, killed ones too
        try:
            self.cluster = Cluster(initialize_head=True, head_node_args={
                "num_cpus": head_cpus, "include_dashboard": True, "dashboard_host": "127.0.0.1",
                "dashboard_port": self.dashboard_port, "temp_dir": self.root,
                "dashboard_agent_listen_port": free_port(),
                "_system_config": FAST_HEALTH_CHECK})
            # The job server resolves a job's RAY_ADDRESS from the address file in the head's
            # temp_dir; Cluster writes it to $RAY_TMPDIR/ray instead. Without this copy a job's
            # driver attaches to any other GCS running on the machine (measured: a stray
            # ray.init elsewhere made admire submit's job fail with InvalidAuthToken).
            from ray._private.utils import write_ray_address

            write_ray_address(self.cluster.address, self.root)
        except BaseException:
            self.stop()
            raise

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def add_node(self, name: str, num_cpus: int = 1,
                 resources: Mapping[str, float] | None = None) -> None:
        """Start a worker node (waits until the GCS sees it alive)."""
        node = self.cluster.add_node(num_cpus=num_cpus, resources=dict(resources or {}),
                                     wait=True)
        self.nodes[name] = node
        self.node_ids[name] = str(node.node_id)

    def name_of(self, node_id: str) -> str:
        """The name of a worker node by its Ray node id ("head" for the head)."""
        names = {nid: name for name, nid in self.node_ids.items()}
        return names.get(node_id, "head")

    def raylet_pid(self, name: str) -> int:
        return int(self.nodes[name].all_processes["raylet"][0].process.pid)

    def node_of(self, pid: int) -> str | None:
        """The worker node whose raylet started process ``pid`` (None: not on a worker node)."""
        raylets = {self.raylet_pid(name): name for name in self.nodes}
        with contextlib.suppress(psutil.Error):
            for parent in psutil.Process(pid).parents():
                if parent.pid in raylets:
                    return raylets[parent.pid]
        return None

    def kill_node(self, name: str) -> None:
        """Lose a node: SIGKILL its raylet and the rest of its processes, no goodbye."""
        self.cluster.remove_node(self.nodes.pop(name), allow_graceful=False)

    def processes(self) -> list[psutil.Process]:
        return marked(self.mark)

    def stop(self) -> list[str]:
        """Stop every node, then SIGKILL by PID whatever is still running after a grace period;
        returns what had to be killed (empty when the cluster shut down cleanly)."""
        try:
            if getattr(self, "cluster", None) is not None:
                with contextlib.suppress(Exception):
                    self.cluster.shutdown()
            return reap(self.mark, grace_s=10.0)
        finally:
            for key, value in self._saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            _reload_auth_mode()
            shutil.rmtree(self.root, ignore_errors=True)

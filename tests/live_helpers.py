"""Tiny live studies for the Ray tests: a two-rung micro ladder (trials of a second or less),
three small built-in domains, and Ray started on loopback and stopped by PID.

Work functions used by actors live here (not in a test module) and are pickled by value, so Ray
workers need not import the tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

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


def write_study(folder: Path, cache_dir: Path, *, name: str = "micro", max_trials: int = 4,
                max_parallel: int = 2, code_max_epochs: float = 2.0,
                extra_proxy: str = "") -> Path:
    """A micro study config (and its ladder) in ``folder``; returns the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ladder.toml").write_text(MICRO_LADDER, encoding="utf-8")
    config = folder / "study.toml"
    config.write_text(f"""
[study]
name = "{name}"
max_trials = {max_trials}
max_parallel = {max_parallel}

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
    """No training: a smooth function of the mixture; trial 1 returns NaN."""
    w = request.mixture
    value = (w["math"] - 0.5) ** 2 + (w["code"] - 0.3) ** 2 + {"r0": 0.2, "r1": 0.0}[
        request.rung.name]
    if request.trial_index == 1:
        value = float("nan")
    return {"objective": value}, 0.05


def slow_first_work(corpora, request, device) -> tuple[Mapping[str, float], float]:
    """Trial 0 takes a minute (so it can be killed mid-trial); the others train for real."""
    from admire.evaluators.ray.worker import train_trial

    if request.trial_index == 0:
        time.sleep(60)
    return train_trial(corpora, request, device)


def pickle_helpers_by_value() -> None:
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


# --- Ray on loopback ---------------------------------------------------------------------------


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def ray_head(num_cpus: int = 2) -> Iterator[str]:
    """``ray start --head`` on loopback in its own process group; yields the dashboard URL.

    Stopped by signalling that group (the head's PID is its id): never ``ray stop``, which
    matches processes by name and would stop colleagues' clusters too.
    """
    from ray.job_submission import JobSubmissionClient

    port, dashboard = free_port(), free_port()
    temp = short_tempdir()
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    ray_bin = str(Path(sys.executable).with_name("ray"))
    proc = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
         "--dashboard-host", "127.0.0.1", "--port", str(port), "--dashboard-port",
         str(dashboard), "--num-cpus", str(num_cpus), "--include-dashboard", "true",
         "--temp-dir", temp],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                JobSubmissionClient(url).list_jobs()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("ray start --head did not come up") from None
                time.sleep(1)
        yield url
    finally:
        stop_group(proc)
        shutil.rmtree(temp, ignore_errors=True)


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group we created, then SIGKILL what is left (gcs_server and the
    blocking ``ray start`` itself often ignore SIGTERM)."""
    group = proc.pid  # start_new_session: the group id is the leader's PID
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)

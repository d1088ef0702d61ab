"""Attaching to Ray: the embedded cluster is isolated from stray local heads, and a cluster that
cannot be reached is a ConfigError naming the address."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from live_helpers import free_port, marked, own_ports, ray_env, reap, short_tempdir, stop_group

from admire.errors import ConfigError
from admire.evaluators.ray.connect import Connection, _host, connect, disconnect


def test_host_of_an_address(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6380")
    assert _host("auto") == "127.0.0.1"
    assert _host("10.0.0.5:6379") == "10.0.0.5"
    assert _host("ray://localhost:10001") == "localhost"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _embedded_and_alone(stray: str) -> Connection:
    """Start the embedded cluster; check it is its own one-node cluster, in its own folder."""
    import ray

    connection = connect(num_cpus=1)
    assert connection.owned and connection.temp_dir is not None
    assert connection.address != stray and connection.address.startswith("127.0.0.1:")
    assert len(ray.nodes()) == 1
    session = ray._private.worker._global_node.get_session_dir_path()
    assert Path(session).parent == Path(connection.temp_dir)

    @ray.remote(num_cpus=1)
    def pid() -> int:
        return os.getpid()

    assert ray.get(pid.remote(), timeout=120) != os.getpid()
    return connection


@pytest.mark.slow
def test_embedded_cluster_ignores_a_running_and_a_stale_local_head(monkeypatch):
    """A stray ``ray start --head`` writes its address where a plain ``ray.init()`` looks
    (``$RAY_TMPDIR/ray/ray_current_cluster``, i.e. ``/tmp/ray/...`` on a default machine); the
    embedded cluster starts its own anyway, leaves the stray one running, and still starts once
    that head has been stopped by PID and left its address file behind."""
    import ray
    from ray._private.services import canonicalize_bootstrap_address

    assert not ray.is_initialized(), "another test left Ray running"
    root = short_tempdir()  # the stray head's RAY_TMPDIR: stands in for /tmp
    mark = uuid.uuid4().hex
    monkeypatch.setenv("RAY_TMPDIR", root)  # this process looks where the stray head wrote
    from ray._private import ray_constants

    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)  # 127.0.0.1 stays itself
    port = free_port()
    ray_bin = str(Path(sys.executable).with_name("ray"))
    stray = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port",
         str(port), "--num-cpus", "1", "--include-dashboard", "false", "--disable-usage-stats",
         *own_ports()],
        env=ray_env(mark, RAY_TMPDIR=root), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address_file = Path(root) / "ray" / "ray_current_cluster"
    connection: Connection | None = None
    try:
        deadline = time.monotonic() + 120
        while not (address_file.exists() and _listening(port)):
            assert stray.poll() is None and time.monotonic() < deadline, "no stray head"
            time.sleep(0.5)
        stray_address = address_file.read_text().strip()
        assert stray_address == f"127.0.0.1:{port}"
        # The trap is set: where to connect, as a plain ray.init() decides it, is the stray head.
        assert canonicalize_bootstrap_address(None) == stray_address
        stray_pids = {p.pid: p.name() for p in marked(mark)}
        assert {"gcs_server", "raylet"} <= set(stray_pids.values())

        connection = _embedded_and_alone(stray_address)
        disconnect(connection)
        assert not ray.is_initialized() and not Path(connection.temp_dir).exists()
        assert all(psutil.pid_exists(pid) for pid in stray_pids), "the stray head was touched"
        assert _listening(port)

        # Stop the stray head by PID, as Ray's README advises: its address file stays behind.
        stop_group(stray, grace_s=5.0)
        reap(mark, grace_s=5.0)  # and SIGKILL by PID what ignored SIGTERM (gcs_server may)
        assert address_file.exists() and not _listening(port)
        assert canonicalize_bootstrap_address(None) == stray_address  # stale, and still chosen
        connection = _embedded_and_alone(stray_address)
        disconnect(connection)
        assert not Path(connection.temp_dir).exists()
    finally:
        if ray.is_initialized():
            ray.shutdown()
        stop_group(stray, grace_s=1.0)
        reap(mark, grace_s=5.0)
        shutil.rmtree(root, ignore_errors=True)
    assert marked(mark) == []


def test_an_unreachable_cluster_is_a_config_error_naming_the_address():
    import ray

    assert not ray.is_initialized()
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError) as err:
        connect(address)
    assert err.value.where == f"--address {address}"
    assert "nothing listens there" in str(err.value) and "ray start --head" in str(err.value)
    assert not ray.is_initialized()

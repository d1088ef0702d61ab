"""The embedded Ray cluster admire starts listens on loopback only, and goes away with it."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import time

import psutil
import pytest
from live_helpers import short_tempdir

SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # ::ffff:127.0.0.1
    return addr.is_loopback


def _session_processes(temp: str) -> list[psutil.Process]:
    """This process, its descendants, and anything whose command line names the session's
    temp dir (in case a Ray process was reparented)."""
    me = psutil.Process()
    procs = {me.pid: me, **{p.pid: p for p in me.children(recursive=True)}}
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if temp in " ".join(proc.info["cmdline"] or []):
                procs.setdefault(proc.pid, proc)
    return list(procs.values())


def _bound(proc: psutil.Process) -> list[tuple[str, int, str]]:
    """(ip, port, kind) of every TCP socket listening and every UDP socket bound."""
    out = []
    for conn in proc.net_connections(kind="inet"):
        if not conn.laddr:
            continue
        if conn.status == psutil.CONN_LISTEN or (conn.type == 2 and not conn.raddr):
            out.append((conn.laddr.ip, conn.laddr.port, "tcp" if conn.type == 1 else "udp"))
    return out


@pytest.mark.slow
def test_embedded_cluster_listens_on_loopback_only_and_stops(monkeypatch):
    import ray

    from admire.evaluators.ray.connect import connect, disconnect

    assert not ray.is_initialized(), "another test left Ray running"
    monkeypatch.delenv(SWITCH, raising=False)  # connect() must set the switch itself
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    temp = short_tempdir()
    # Children this process had already (e.g. multiprocessing's resource tracker, started by an
    # earlier test's spawn pool) are not the cluster's.
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    connection = connect(num_cpus=1, temp_dir=temp)
    started: list[psutil.Process] = []
    try:
        assert connection.owned and connection.address.startswith("127.0.0.1:")

        @ray.remote(num_cpus=1)
        def pid() -> int:
            return os.getpid()

        worker = ray.get(pid.remote(), timeout=120)  # a worker process is up, with its ports
        started = [p for p in _session_processes(temp)
                   if p.pid != os.getpid() and p.pid not in before]
        names = {p.name() for p in started}
        assert {"raylet", "gcs_server"} <= names and worker in {p.pid for p in started}
        sockets = {}
        for proc in [psutil.Process(), *started]:
            with contextlib.suppress(psutil.NoSuchProcess):
                sockets[f"{proc.pid} {proc.name()}"] = _bound(proc)
        assert sum(len(s) for s in sockets.values()) >= 4, sockets  # gcs, raylet, worker, ...
        exposed = {who: [s for s in socks if not _loopback(s[0])]
                   for who, socks in sockets.items()}
        exposed = {who: socks for who, socks in exposed.items() if socks}
        assert exposed == {}, f"Ray listens beyond loopback: {exposed}"
    finally:
        disconnect(connection)
        gone, alive = psutil.wait_procs(started, timeout=15)
        for proc in alive:  # stop by PID what shutdown left (gcs_server may ignore SIGTERM)
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=10)
        shutil.rmtree(temp, ignore_errors=True)
    assert not ray.is_initialized()
    assert alive == [], f"left running after disconnect: {[p.pid for p in alive]}"
    deadline = time.monotonic() + 5
    while (left := [p for p in _session_processes(temp)
                    if p.pid != os.getpid() and p.pid not in before]) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == []

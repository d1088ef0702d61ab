"""Attach this process to Ray: an initialised session, a cluster by address, or an embedded
single-node cluster of its own bound to 127.0.0.1.

The embedded cluster is isolated: it is started with ``ray.init(address="local")`` (Ray's "always
start a new cluster") in a temporary directory of its own, so no running or stale head on the
machine (``ray start``, another user's test, a head killed by PID that left
``/tmp/ray/ray_current_cluster`` behind) is ever attached to, and nothing of it is left in
``/tmp/ray``. Without that, ``ray.init(num_cpus=...)`` attaches to whatever that file names and
fails with "When connecting to an existing cluster, num_cpus and num_gpus must not be provided".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass

from admire.errors import ConfigError
from admire.evaluators.ray import auth

SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # Ray's single-node switch: "0" keeps 127.0.0.1
LOOPBACK = ("127.", "localhost", "::1", "[::1]")
PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Connection:
    """How this process is attached to Ray; ``owned`` = we started or connected it, so we
    shut it down; ``temp_dir`` = the embedded cluster's own folder, removed on disconnect."""

    address: str
    owned: bool
    temp_dir: str | None = None
    session_root: str | None = None  # an embedded cluster's temp folder, named by its processes


def connect(address: str | None = None, *, num_cpus: int | None = None,
            temp_dir: str | None = None) -> Connection:
    """Attach to Ray: reuse an initialised session, connect to ``address`` (or ``RAY_ADDRESS``,
    as inside a Ray job), or start an embedded single-node cluster bound to 127.0.0.1.

    ``temp_dir``: where the embedded cluster keeps its session (default: a new folder under
    ``$RAY_TMPDIR`` or ``/tmp``, removed by :func:`disconnect`; a given one is left in place).
    """
    import ray

    if ray.is_initialized():
        ctx = ray.get_runtime_context()
        return Connection(str(ctx.gcs_address), owned=False)
    if address is not None:
        return _attach(address, where=f"--address {address}")
    if os.environ.get("RAY_ADDRESS"):
        return _attach(os.environ["RAY_ADDRESS"], where=f"RAY_ADDRESS={os.environ['RAY_ADDRESS']}")
    return _embedded(num_cpus, temp_dir)


def disconnect(connection: Connection) -> None:
    """Shut Ray down only if this process started or connected it."""
    import ray

    if connection.owned and ray.is_initialized():
        started = _session_processes(connection.session_root)
        ray.shutdown()
        _reap(started)
    if connection.owned and connection.temp_dir is not None:
        shutil.rmtree(connection.temp_dir, ignore_errors=True)


def _session_processes(root: str | None) -> list:
    """The processes of the embedded cluster kept under ``root`` (GCS, raylet, workers, ...):
    their command lines name it. None (a cluster we only connected to): none of ours."""
    import psutil

    if root is None:
        return []
    found = []
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if root in " ".join(proc.cmdline()):
                found.append(proc)
    return found


def _reap(processes: list, grace_s: float = 15.0) -> None:
    """Wait for ``processes`` to exit after ``ray.shutdown()``, then kill what is left (under
    load some outlive it: gcs_server can ignore SIGTERM for 18 s), so nothing keeps running."""
    import psutil

    _, alive = psutil.wait_procs(processes, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=10)


# --------------------------------------------------------------------------------------------


def _single_node() -> None:
    """Keep 127.0.0.1 as the node address. Ray otherwise swaps it for the machine's routable
    IP: an embedded cluster then listens on every interface, and a driver attaching to a head
    bound to 127.0.0.1 dials an address where nothing listens and hangs (measured)."""
    os.environ.setdefault(SWITCH, "0")
    if os.environ[SWITCH] == "0":
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False  # ray read the variable when it was imported


def _resolve(address: str) -> str:
    """``HOST:PORT`` of ``HOST:PORT`` / ``ray://HOST:PORT``; ``auto`` resolves like Ray does
    (``RAY_ADDRESS``, else the address file of the last ``ray start`` on this machine)."""
    if address == "auto":
        from ray._private.utils import read_ray_address

        address = os.environ.get("RAY_ADDRESS") or read_ray_address() or ""
        if address == "auto":
            return ""
    return address.split("://", 1)[-1]


def _host(address: str) -> str:
    resolved = _resolve(address)
    return resolved.rsplit(":", 1)[0] if ":" in resolved else resolved


def _listening(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether something accepts TCP connections at ``HOST:PORT``: ``ray.init`` on a dead
    address retries for over ten minutes (measured), so that is asked first."""
    host, _, port = _resolve(address).rpartition(":")
    if not host or not port.isdigit():
        return True  # not ours to judge: let Ray say what is wrong with it
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


def _attach(address: str, *, where: str) -> Connection:
    import ray
    from ray.exceptions import RayError

    if _host(address).startswith(LOOPBACK):
        _single_node()
    if not _listening(address):
        resolved = f" ({_resolve(address)})" if _resolve(address) != address else ""
        raise ConfigError(f"nothing listens there{resolved}: start the head (`ray start --head "
                          "--port PORT`, see ray_cluster/README.md) or pass its GCS address, "
                          "HOST:PORT (port 6379 by default)", where=where)
    token = None
    if not auth.mode_is_set():  # ray.init never sends a token to an explicit address itself
        token = auth.find_token()
        if token is not None:
            auth.enable_token_mode()
    try:
        info = ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError, RayError) as exc:
        with contextlib.suppress(Exception):
            ray.shutdown()
        raise ConfigError(f"cannot connect to the Ray cluster ({_first_line(exc)}); "
                          f"{_attach_hint(address, token)}", where=where) from None
    return Connection(str(info.address_info.get("address", address)), owned=True)


def _attach_hint(address: str, token: auth.Token | None) -> str:
    check = f"check that the head is up (`ray status --address {address}`)"
    if os.environ.get(auth.MODE_VAR, "").lower() == "disabled":
        return (f"{check}; {auth.MODE_VAR}=disabled here, so no auth token was sent: unset it "
                "if the cluster uses token auth")
    if token is None and not auth.mode_is_set():
        return (f"{check}; no Ray auth token was found here ({auth.token_source()}): if the "
                f"cluster uses token auth, {auth.where_to_get_it(address)}")
    source = token.source if token is not None else auth.token_source()
    return (f"{check}; the auth token from {source} was sent: if it is not the cluster's, "
            f"{auth.where_to_get_it(address)}")


def _embedded(num_cpus: int | None, temp_dir: str | None) -> Connection:
    import ray

    _single_node()
    own = temp_dir is None
    if temp_dir is None:  # short: Ray's socket paths under it must stay below ~107 characters
        temp_dir = tempfile.mkdtemp(prefix="admire-ray-",
                                    dir=os.environ.get("RAY_TMPDIR") or "/tmp")
    try:
        info = ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1,
                        include_dashboard=False, _node_ip_address="127.0.0.1",
                        log_to_driver=False, _temp_dir=temp_dir)
    except BaseException:
        with contextlib.suppress(Exception):
            ray.shutdown()
        if own:
            shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return Connection(str(info.address_info["address"]), owned=True,
                      temp_dir=temp_dir if own else None, session_root=temp_dir)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".strip().rstrip(".")

"""Attach this process to Ray: an initialised session, a cluster by address, or an embedded
single-node cluster bound to 127.0.0.1."""

from __future__ import annotations

import os
from dataclasses import dataclass

from admire.errors import ConfigError


@dataclass(frozen=True)
class Connection:
    """How this process is attached to Ray; ``owned`` = we started or connected it, so we
    shut it down."""

    address: str
    owned: bool


def connect(address: str | None = None, *, num_cpus: int | None = None,
            temp_dir: str | None = None) -> Connection:
    """Attach to Ray: reuse an initialised session, connect to ``address`` (or ``RAY_ADDRESS``,
    as inside a Ray job), or start an embedded single-node cluster bound to 127.0.0.1.

    Ray resolves ``127.0.0.1`` to the machine's routable IP and listens on every interface unless
    its single-node switch ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is set; the embedded cluster
    sets it, so nothing is reachable from outside the machine.
    """
    if address is None and not os.environ.get("RAY_ADDRESS"):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    if ray.is_initialized():
        ctx = ray.get_runtime_context()
        return Connection(str(ctx.gcs_address), owned=False)
    if address is not None or os.environ.get("RAY_ADDRESS"):
        try:
            info = ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot connect to Ray: {exc}",
                              where=f"--address {address or os.environ.get('RAY_ADDRESS')}"
                              ) from None
        return Connection(str(info.address_info.get("address", address)), owned=True)
    if os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == "0":
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False  # ray was imported before the switch was set
    info = ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                    _node_ip_address="127.0.0.1", log_to_driver=False, _temp_dir=temp_dir)
    return Connection(str(info.address_info["address"]), owned=True)


def disconnect(connection: Connection) -> None:
    """Shut Ray down only if this process started or connected it."""
    import ray

    if connection.owned and ray.is_initialized():
        ray.shutdown()

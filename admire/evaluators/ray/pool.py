"""Ray actors that train proxies: the live evaluator behind ``admire tune``.

One actor per parallel slot. Each loads the corpora once (from the driver's manifest, or by
rebuilding them from the same recipe on a node that cannot see the driver's cache), pins torch to
its CPU share, and trains one trial at a time. Per-trial resources come from the rung: a rung may
ask for ``num_gpus``/``num_cpus``; GPUs are used when the cluster has them, CPUs otherwise.

What can go wrong and what the pool reports (a :class:`TrialOutcome` per trial, never an
exception, so a study always continues):

* the trial raises (diverged, out of memory, bad rung, repetition limit): failed with
  ``"<ErrorType>: <message>"``;
* the actor's process dies mid-trial (killed, OOM-killed, node lost): the trial is retried once on
  a fresh actor, then failed with the reason.

NaN/inf metrics come back as an ordinary outcome; the study refuses them (see ``admire.app.tune``).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from admire.errors import ConfigError
from admire.proxy.corpora import Corpora, CorpusConfig, build_corpora
from admire.schema.ladder import FidelityLadder, Rung

WorkFn = Callable[[Corpora, "TrialRequest", str], tuple[Mapping[str, float], float]]
StartHook = Callable[["RayProxyPool", "TrialRequest", int], None]  # (pool, request, attempt)
MAX_ATTEMPTS = 2  # the first run and one retry on a fresh actor


# --------------------------------------------------------------------------------------------
# What travels to a worker and back
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorporaSource:
    """How a worker gets the corpora: the driver's manifest when its cache paths are visible,
    else a rebuild from the recipe (content-hashed, so every node builds the same streams)."""

    manifest: Mapping[str, Any]
    domains: Mapping[str, str]
    corpus: CorpusConfig
    cache_dir: str | None = None

    @classmethod
    def of(cls, corpora: Corpora, domains: Mapping[str, str], corpus: CorpusConfig,
           cache_dir: str | None = None) -> CorporaSource:
        return cls(corpora.manifest(), dict(domains), corpus, cache_dir)

    def load(self) -> Corpora:
        paths = [Path(p) for p in self.manifest["domains"].values()]
        tok = self.manifest["tokenizer"]
        if tok.get("path"):
            paths.append(Path(tok["path"]))
        if all(p.exists() for p in paths):
            return Corpora.from_manifest(self.manifest)
        return build_corpora(self.domains, self.corpus, cache_dir=self.cache_dir)


@dataclass(frozen=True)
class TrialRequest:
    """One trial as a worker sees it."""

    trial_index: int
    mixture: Mapping[str, float]
    rung: Rung
    seed: int = 0
    objective: Mapping[str, Any] | None = None
    max_epochs: Mapping[str, float | None] | None = None


@dataclass(frozen=True)
class TrialOutcome:
    """A finished trial: metrics and cost (worker wall seconds), or the reason it failed."""

    trial_index: int
    metrics: Mapping[str, float] | None
    cost: float
    seed: int
    error: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None


def train_trial(corpora: Corpora, request: TrialRequest, device: str
                ) -> tuple[Mapping[str, float], float]:
    """The default work: train the proxy of ``request.rung`` on the mixture and measure it."""
    from admire.proxy.train import train_rung

    result = train_rung(corpora, request.mixture, request.rung, seed=request.seed,
                        objective=request.objective, max_epochs=request.max_epochs,
                        device=device)
    return result.metrics(), result.cost


def noop_trial(corpora: Corpora, request: TrialRequest, device: str
               ) -> tuple[Mapping[str, float], float]:
    """No training at all: what ``bench/tune_default.py`` times to measure dispatch overhead."""
    return {"objective": 0.0}, 0.0


# --------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Resources:
    num_cpus: float
    num_gpus: float = 0.0

    @property
    def device(self) -> str:
        return "cuda" if self.num_gpus > 0 else "cpu"

    @property
    def threads(self) -> int:
        return max(1, int(self.num_cpus))


def _requested(rung: Rung, key: str) -> float | None:
    value = rung.spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value) or value <= 0:
        raise ConfigError(f"must be a number > 0, got {value!r}",
                          where=f"rung {rung.name!r}.{key}")
    return float(value)


def rung_resources(rung: Rung, cluster: Mapping[str, float], max_parallel: int) -> Resources:
    """What one trial of ``rung`` reserves on ``cluster`` (``ray.cluster_resources()``).

    GPUs only when the cluster has some: the rung's ``num_gpus``, else one GPU per slot (a
    share when slots outnumber GPUs). CPUs: the rung's ``num_cpus``, else an equal share of the
    cluster's CPUs per slot, at least one (torch uses that many threads: oversubscribing a core
    makes CPU training many times slower).
    """
    cpus_total = float(cluster.get("CPU", 1.0))
    gpus_total = float(cluster.get("GPU", 0.0))
    want_cpus, want_gpus = _requested(rung, "num_cpus"), _requested(rung, "num_gpus")
    gpus = 0.0
    if gpus_total > 0:
        gpus = want_gpus if want_gpus is not None else min(1.0, gpus_total / max_parallel)
        if gpus > gpus_total:
            raise ConfigError(f"asks for {gpus:g} GPUs per trial; the cluster has "
                              f"{gpus_total:g}", where=f"rung {rung.name!r}.num_gpus")
    cpus = want_cpus if want_cpus is not None else max(1.0, math.floor(cpus_total
                                                                        / max_parallel))
    if cpus > cpus_total:
        raise ConfigError(f"asks for {cpus:g} CPUs per trial; the cluster has {cpus_total:g}",
                          where=f"rung {rung.name!r}.num_cpus")
    return Resources(cpus, gpus)


# --------------------------------------------------------------------------------------------
# The actor
# --------------------------------------------------------------------------------------------


class ProxyWorker:
    """Lives in its own process: corpora loaded once, torch threads pinned, one trial at a time.

    ``run`` never raises for a trial's own error: it returns the reason, so only a dead process
    shows up as a Ray error in the driver.
    """

    def __init__(self, source: CorporaSource, resources: Resources, work: WorkFn) -> None:
        import torch

        torch.set_num_threads(resources.threads)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.corpora = source.load()
        # Import the model stack now: otherwise the first trial's cost (wall seconds, which the
        # study's cost model learns from) includes seconds of imports.
        from transformers import AutoModelForCausalLM, LlamaConfig  # noqa: F401

        import admire.proxy.train  # noqa: F401
        self.device = resources.device
        self.work = work

    def pid(self) -> int:
        return os.getpid()

    def _release_gpu_memory(self) -> None:
        if self.device == "cuda":
            import gc

            import torch

            gc.collect()
            torch.cuda.empty_cache()

    def run(self, request: TrialRequest) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            metrics, cost = self.work(self.corpora, request, self.device)
        except Exception as exc:  # noqa: BLE001 - any trial error fails only that trial
            self._release_gpu_memory()  # after CUDA OOM the next trial needs a clean cache
            return {"error": _short(exc), "cost": time.perf_counter() - t0}
        return {"metrics": {k: float(v) for k, v in metrics.items()}, "cost": float(cost)}


# --------------------------------------------------------------------------------------------
# The pool
# --------------------------------------------------------------------------------------------


@dataclass
class _Slot:
    actor: Any
    resources: Resources
    pid_ref: Any


@dataclass
class InFlight:
    """A trial running on an actor (``attempt`` counts from 1)."""

    request: TrialRequest
    slot: _Slot
    ref: Any
    attempt: int
    started: float = field(default_factory=time.monotonic)
    errors: list[str] = field(default_factory=list)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


class RayProxyPool:
    """Up to ``max_parallel`` trials at once on actors of a connected Ray cluster.

    ``submit`` starts a trial (never blocks on training); ``wait`` returns the trials that
    finished. Actors are reused; one whose resource shape does not fit the next trial's rung is
    replaced, and a dead one is never reused.
    """

    def __init__(self, source: CorporaSource, ladder: FidelityLadder, max_parallel: int, *,
                 work: WorkFn = train_trial, max_attempts: int = MAX_ATTEMPTS,
                 on_start: StartHook | None = None) -> None:
        import ray

        if not ray.is_initialized():
            raise ConfigError("Ray is not initialised; call admire.evaluators.ray.pool."
                              "connect() first", where="ray")
        self._ray = ray
        self.source = source
        self.max_parallel = max_parallel
        self.max_attempts = max_attempts
        self.work = work
        self.on_start = on_start  # called after every start, retries included (tests kill here)
        cluster = ray.cluster_resources()
        self.resources = {r.name: rung_resources(r, cluster, max_parallel) for r in ladder.rungs}
        self._idle: list[_Slot] = []
        self._running: dict[int, InFlight] = {}

    # --- actors --------------------------------------------------------------------------------

    def _new_slot(self, resources: Resources) -> _Slot:
        actor_cls = self._ray.remote(ProxyWorker).options(
            num_cpus=resources.num_cpus, num_gpus=resources.num_gpus, max_restarts=0,
            max_task_retries=0)
        actor = actor_cls.remote(self.source, resources, self.work)
        return _Slot(actor, resources, actor.pid.remote())

    def _slot_for(self, resources: Resources, *, fresh: bool = False) -> _Slot:
        """An idle actor of this shape, else a new one (``fresh``: always a new one); an idle
        actor is retired when the pool would otherwise exceed ``max_parallel`` actors."""
        if not fresh:
            for i, slot in enumerate(self._idle):
                if slot.resources == resources:
                    return self._idle.pop(i)
        if len(self._idle) + len(self._running) >= self.max_parallel and self._idle:
            self._kill(self._idle.pop(0))
        return self._new_slot(resources)

    def _kill(self, slot: _Slot) -> None:
        with contextlib.suppress(Exception):  # already gone
            self._ray.kill(slot.actor, no_restart=True)

    # --- trials --------------------------------------------------------------------------------

    @property
    def free(self) -> int:
        return self.max_parallel - len(self._running)

    def submit(self, request: TrialRequest) -> None:
        """Start a trial; refuses when every slot is busy or the trial is already running."""
        if self.free <= 0:
            raise RuntimeError("every slot is busy: wait for a result first")
        if request.trial_index in self._running:
            raise RuntimeError(f"trial {request.trial_index} is already running")
        self._start(request, attempt=1, errors=[])

    def _start(self, request: TrialRequest, attempt: int, errors: list[str]) -> None:
        slot = self._slot_for(self.resources[request.rung.name], fresh=attempt > 1)
        ref = slot.actor.run.remote(request)
        self._running[request.trial_index] = InFlight(request, slot, ref, attempt,
                                                      errors=errors)
        if self.on_start is not None:
            self.on_start(self, request, attempt)

    def in_flight(self) -> list[InFlight]:
        return sorted(self._running.values(), key=lambda f: f.request.trial_index)

    def pid_of(self, trial_index: int, timeout: float = 120.0) -> int:
        """Process id of the actor running ``trial_index`` (waits until the actor is up)."""
        return int(self._ray.get(self._running[trial_index].slot.pid_ref, timeout=timeout))

    def wait(self, timeout: float | None = None) -> list[TrialOutcome]:
        """Trials that finished within ``timeout`` seconds (possibly none). A trial whose actor
        died is restarted on a fresh actor (not returned) until ``max_attempts``."""
        if not self._running:
            return []
        refs = {f.ref: i for i, f in self._running.items()}
        ready, _ = self._ray.wait(list(refs), num_returns=1, timeout=timeout)  # the first one
        if ready:  # and whatever else is ready by now
            ready, _ = self._ray.wait(list(refs), num_returns=len(refs), timeout=0)
        out = []
        for ref in ready:
            flight = self._running.pop(refs[ref])
            outcome = self._collect(flight)
            if outcome is not None:
                out.append(outcome)
        return out

    def _collect(self, flight: InFlight) -> TrialOutcome | None:
        from ray.exceptions import RayActorError, RayError, RayTaskError

        request = flight.request
        try:
            reply = self._ray.get(flight.ref)
        except RayTaskError as exc:  # the actor method itself raised (not a trial error)
            self._idle.append(flight.slot)
            return TrialOutcome(request.trial_index, None, self._elapsed(flight), request.seed,
                                _short(exc.cause if exc.cause is not None else exc),
                                flight.attempt)
        except (RayActorError, RayError) as exc:
            self._kill(flight.slot)
            errors = [*flight.errors, _short(exc)]
            if flight.attempt < self.max_attempts:
                self._start(request, flight.attempt + 1, errors)
                return None
            reason = (f"worker died during the trial ({flight.attempt} attempts): "
                      + " | ".join(errors))
            return TrialOutcome(request.trial_index, None, self._elapsed(flight), request.seed,
                                reason, flight.attempt)
        self._idle.append(flight.slot)
        if "error" in reply:
            return TrialOutcome(request.trial_index, None, float(reply["cost"]), request.seed,
                                str(reply["error"]), flight.attempt)
        return TrialOutcome(request.trial_index, reply["metrics"], float(reply["cost"]),
                            request.seed, None, flight.attempt)

    @staticmethod
    def _elapsed(flight: InFlight) -> float:
        return time.monotonic() - flight.started

    def close(self) -> None:
        """Kill every actor this pool started (running trials are abandoned)."""
        for flight in self._running.values():
            self._kill(flight.slot)
        for slot in self._idle:
            self._kill(slot)
        self._running.clear()
        self._idle.clear()

    def __enter__(self) -> RayProxyPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# Connecting
# --------------------------------------------------------------------------------------------


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

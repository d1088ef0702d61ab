"""Ray actors that train proxies: the live evaluator behind ``admire tune``.

One actor per parallel slot. Each loads the corpora once (from the driver's manifest, or by
rebuilding them from the same recipe on a node that cannot see the driver's cache), pins torch to
its CPU share, and trains one trial at a time. Per-trial resources come from the rung: a rung may
ask for ``num_gpus``/``num_cpus``; GPUs are used when the cluster has them, CPUs otherwise.

What can go wrong and what the pool reports (a :class:`Outcome` per trial, never an
exception, so a study always continues):

* the trial raises (diverged, out of memory, bad rung, repetition limit): failed with
  ``"<ErrorType>: <message>"``;
* the actor's process dies mid-trial (killed, OOM-killed, node lost): the trial is retried once on
  a fresh actor, then failed with the reason.

NaN/inf metrics come back as an ordinary outcome; the study refuses them (see ``admire.app.tune``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from admire.errors import ConfigError
from admire.evaluators.base import Outcome, Proposal
from admire.evaluators.ray.worker import (
    CorporaSource,
    ProxyWorker,
    Resources,
    TrialRequest,
    WorkFn,
    rung_resources,
    short_error,
    train_trial,
)
from admire.schema.ladder import FidelityLadder

StartHook = Callable[["RayProxyPool", "TrialRequest", int], None]  # (pool, request, attempt)
MAX_ATTEMPTS = 2  # the first run and one retry on a fresh actor
PENDING_S = 30.0  # a new actor not started by then may be waiting for what idle ones hold
CHECK_S = 5.0  # how often wait() looks for that while idle actors exist


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



class RayProxyPool:
    """Up to ``max_parallel`` trials at once on actors of a connected Ray cluster.

    ``submit`` starts a trial (never blocks on training); ``wait`` returns the trials that
    finished. Actors are reused; one whose resource shape does not fit the next trial's rung is
    replaced, and a dead one is never reused.
    """

    def __init__(self, source: CorporaSource | None, ladder: FidelityLadder, max_parallel: int,
                 *,
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
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        self.resources = {r.name: rung_resources(r, cluster, max_parallel, nodes)
                          for r in ladder.rungs}
        self._idle: list[_Slot] = []
        self._running: dict[int, InFlight] = {}

    # --- actors --------------------------------------------------------------------------------

    def _new_slot(self, resources: Resources) -> _Slot:
        actor_cls = self._ray.remote(ProxyWorker).options(
            num_cpus=resources.num_cpus, num_gpus=resources.num_gpus,
            resources=resources.custom_resources or None, max_restarts=0, max_task_retries=0)
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
        self._make_room(resources)
        return self._new_slot(resources)

    def _make_room(self, resources: Resources) -> None:
        """Retire idle actors holding what the cluster lacks (by its free totals) for a new
        actor of ``resources``: an idle actor keeps its reservation, so on a cluster whose nodes
        differ a new actor needing what an idle one of another shape holds waits forever."""
        if not self._idle:
            return
        free = dict(self._ray.available_resources())
        need = {"CPU": resources.num_cpus, "GPU": resources.num_gpus,
                **resources.custom_resources}
        for slot in list(self._idle):
            short = {k for k, v in need.items() if v > 0 and free.get(k, 0.0) < v - 1e-9}
            if not short:
                return
            held = {"CPU": slot.resources.num_cpus, "GPU": slot.resources.num_gpus,
                    **slot.resources.custom_resources}
            if any(held.get(k, 0.0) > 0 for k in short):
                self._idle.remove(slot)
                self._kill(slot)
                for k, v in held.items():
                    free[k] = free.get(k, 0.0) + v

    def _rebalance(self) -> None:
        """Unblock trials whose new actor has not started while idle actors hold resources.

        A trial waiting on a cold actor moves to an idle actor of its shape (the cold one is
        killed; the trial never ran: an actor runs ``pid`` before ``run``). Otherwise idle
        actors holding what the cluster lacks are retired, and after ``PENDING_S`` all of them
        (free totals can hide a full node while another has room).
        """
        if not self._idle or not self._running:
            return
        flights = list(self._running.values())
        started, _ = self._ray.wait([f.slot.pid_ref for f in flights],
                                    num_returns=len(flights), timeout=0)
        waiting = []
        for flight in (f for f in flights if f.slot.pid_ref not in started):
            warm = next((s for s in self._idle if s.resources == flight.slot.resources), None)
            if warm is not None:
                self._idle.remove(warm)
                self._kill(flight.slot)
                flight.slot, flight.ref = warm, warm.actor.run.remote(flight.request)
            else:
                waiting.append(flight)
                self._make_room(flight.slot.resources)
        now = time.monotonic()
        if self._idle and any(now - f.started > PENDING_S for f in waiting):
            for slot in self._idle:
                self._kill(slot)
            self._idle.clear()

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

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        """Trials that finished within ``timeout`` seconds (possibly none). A trial whose actor
        died is restarted on a fresh actor (not returned) until ``max_attempts``."""
        if not self._running:
            return []
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:  # in slices while idle actors might block a pending one
            self._rebalance()
            refs = {f.ref: i for i, f in self._running.items()}
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            step = left if not self._idle else (CHECK_S if left is None
                                                else min(CHECK_S, left))
            ready, _ = self._ray.wait(list(refs), num_returns=1, timeout=step)  # the first
            if ready or (deadline is not None and time.monotonic() >= deadline):
                break
        if ready:  # and whatever else is ready by now
            ready, _ = self._ray.wait(list(refs), num_returns=len(refs), timeout=0)
        out = []
        for ref in ready:
            flight = self._running.pop(refs[ref])
            outcome = self._collect(flight)
            if outcome is not None:
                out.append(outcome)
        return out

    def _collect(self, flight: InFlight) -> Outcome | None:
        from ray.exceptions import RayActorError, RayError, RayTaskError

        request = flight.request
        try:
            reply = self._ray.get(flight.ref)
        except RayTaskError as exc:  # the actor method itself raised (not a trial error)
            self._idle.append(flight.slot)
            return self._outcome(flight, None, self._elapsed(flight),
                                 short_error(exc.cause if exc.cause is not None else exc))
        except (RayActorError, RayError) as exc:
            self._kill(flight.slot)
            errors = [*flight.errors, short_error(exc)]
            if flight.attempt < self.max_attempts:
                self._start(request, flight.attempt + 1, errors)
                return None
            reason = (f"worker died during the trial ({flight.attempt} attempts): "
                      + " | ".join(errors))
            return self._outcome(flight, None, self._elapsed(flight), reason)
        self._idle.append(flight.slot)
        if "error" in reply:
            return self._outcome(flight, None, float(reply["cost"]), str(reply["error"]))
        return self._outcome(flight, reply["metrics"], float(reply["cost"]), None,
                             reply.get("covariates"))

    @staticmethod
    def _outcome(flight: InFlight, metrics: dict | None, cost: float,
                 error: str | None, covariates: dict | None = None) -> Outcome:
        request = flight.request
        return Outcome(request.trial_index, metrics, cost, error=error, seed=request.seed,
                       attempts=flight.attempt, covariates=covariates)

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


class RayEvaluator:
    """The actor pool as the loop's evaluator: a proposal becomes a trial request for its rung
    (with the study's training seed, objective and repetition limits). ``trials_dir``: where
    command rungs' trials get their folders (``<trials_dir>/<trial>-<rung>``); ``metric``: the
    objective metric their metrics files must hold; commands run in this process's cwd."""

    def __init__(self, pool: RayProxyPool, ladder: FidelityLadder, seed: int,
                 objective: Mapping[str, Any] | None,
                 max_epochs: Mapping[str, float | None] | None, *,
                 trials_dir: str | Path | None = None, metric: str | None = None) -> None:
        self.pool, self.ladder = pool, ladder
        self.seed, self.objective, self.max_epochs = seed, objective, max_epochs
        self.trials_dir = None if trials_dir is None else Path(trials_dir).resolve()
        self.metric = metric
        # Command rungs run where the driver was started; None: the driver's working folder
        # is gone (a Ray job's unpacked working_dir can be cleaned up under it).
        self.cwd: str | None = None
        with contextlib.suppress(FileNotFoundError):
            self.cwd = os.getcwd()

    @property
    def free(self) -> int:
        return self.pool.free

    def submit(self, proposal: Proposal) -> None:
        out_dir = (None if self.trials_dir is None else
                   str(self.trials_dir / f"{proposal.trial_index:05d}-{proposal.rung}"))
        self.pool.submit(TrialRequest(proposal.trial_index, dict(proposal.mixture),
                                      self.ladder.rung(proposal.rung), self.seed,
                                      self.objective, self.max_epochs, out_dir=out_dir,
                                      metric=self.metric, cwd=self.cwd))

    def poll(self, timeout: float | None) -> list[Outcome]:
        return self.pool.wait(timeout=timeout)

    def expected_cost(self, proposal: Proposal) -> float | None:
        return None

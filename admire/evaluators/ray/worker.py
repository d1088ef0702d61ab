"""What a Ray actor runs: the trial request, the default work (train the rung's proxy), the
resources a rung reserves, and the actor itself (corpora loaded once, torch threads pinned).

A rung with a ``command`` (:mod:`admire.schema.command`) is trained by that command instead: the
same actor, with the same resources, runs it as a subprocess in the trial's own folder.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from admire.errors import ConfigError
from admire.evaluators.command import CommandFailed, run_command
from admire.proxy.corpora import Corpora, CorpusConfig, build_corpora
from admire.proxy.result import charged_seconds
from admire.schema.command import is_command_rung
from admire.schema.ladder import Rung

WorkFn = Callable[[Corpora, "TrialRequest", str], tuple[Mapping[str, float], float]]

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
    """One trial as a worker sees it. A command rung also needs ``out_dir`` (the trial's own
    folder), ``metric`` (the study's objective, which its metrics file must hold) and ``cwd``
    (where its command runs: the driver's working directory)."""

    trial_index: int
    mixture: Mapping[str, float]
    rung: Rung
    seed: int = 0
    objective: Mapping[str, Any] | None = None
    max_epochs: Mapping[str, float | None] | None = None
    out_dir: str | None = None
    metric: str | None = None
    cwd: str | None = None


def command_trial(request: TrialRequest) -> tuple[Mapping[str, float], float]:
    """Run a command rung's trainer for ``request`` (see :mod:`admire.evaluators.command`)."""
    if request.out_dir is None:
        raise ConfigError("a command rung needs a folder for its trials (a study directory)",
                          where=f"rung {request.rung.name!r}.command")
    return run_command(request.rung.name, request.rung.spec, trial=request.trial_index,
                       seed=request.seed, mixture=request.mixture, out_dir=request.out_dir,
                       metric=request.metric, cwd=request.cwd)


def train_trial(corpora: Corpora, request: TrialRequest, device: str
                ) -> tuple[Mapping[str, float], float]:
    """The default work: train the proxy of ``request.rung`` on the mixture and measure it."""
    from admire.proxy.train import train_rung

    result = train_rung(corpora, request.mixture, request.rung, seed=request.seed,
                        objective=request.objective, max_epochs=request.max_epochs,
                        device=device)
    return result.metrics(), result.cost


def trial_covariates(corpora: Corpora, request: TrialRequest) -> dict[str, float]:
    """The pool's state for this trial (``pool:`` columns of its runs-table row)."""
    from admire.proxy.pool_state import pool_covariates
    from admire.proxy.spec import ProxySpec

    tokens = ProxySpec.from_rung(request.rung).train.tokens
    return pool_covariates(request.mixture, corpora.available_tokens(), tokens)


def noop_trial(corpora: Corpora, request: TrialRequest, device: str
               ) -> tuple[Mapping[str, float], float]:
    """No training at all: what ``bench/tune_default.py`` times to measure dispatch overhead."""
    return {"objective": 0.0}, 0.0


# --------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Resources:
    """What one trial's actor reserves: CPUs, GPUs and the rung's custom Ray resources
    (``custom``: sorted ``(name, amount)`` pairs, e.g. ``(("big_node", 1.0),)``)."""

    num_cpus: float
    num_gpus: float = 0.0
    custom: tuple[tuple[str, float], ...] = ()

    @property
    def device(self) -> str:
        return "cuda" if self.num_gpus > 0 else "cpu"

    @property
    def threads(self) -> int:
        return max(1, int(self.num_cpus))

    @property
    def custom_resources(self) -> dict[str, float]:
        return dict(self.custom)


BUILTIN = ("CPU", "GPU", "memory", "object_store_memory")


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value) or value <= 0:
        raise ConfigError(f"must be a number > 0, got {value!r}", where=where)
    return float(value)


def _requested(rung: Rung, key: str) -> float | None:
    value = rung.spec.get(key)
    return None if value is None else _positive(value, f"rung {rung.name!r}.{key}")


def _custom(rung: Rung) -> tuple[tuple[str, float], ...]:
    """The rung's ``resources = { name = amount, ... }`` table (Ray custom resources)."""
    table = rung.spec.get("resources")
    where = f"rung {rung.name!r}.resources"
    if table is None:
        return ()
    if not isinstance(table, Mapping):
        raise ConfigError(f"must be a table of resource name = amount, got {table!r}",
                          where=where)
    out = []
    for name, amount in table.items():
        if name in BUILTIN or str(name).startswith("node:"):
            raise ConfigError(f"{name!r} is not a custom resource (use the rung's num_cpus / "
                              "num_gpus)", where=f"{where}.{name}")
        out.append((str(name), _positive(amount, f"{where}.{name}")))
    return tuple(sorted(out))


def _fits(node: Mapping[str, float], custom: tuple[tuple[str, float], ...]) -> bool:
    return all(float(node.get(name, 0.0)) >= amount for name, amount in custom)


def _offers(nodes: Sequence[Mapping[str, float]]) -> str:
    shown = sorted({name for n in nodes for name in n
                    if name not in BUILTIN and not name.startswith("node:")})
    return ", ".join(shown) or "none"


def rung_resources(rung: Rung, cluster: Mapping[str, float], max_parallel: int,
                   nodes: Sequence[Mapping[str, float]] | None = None) -> Resources:
    """What one trial of ``rung`` reserves on ``cluster`` (``ray.cluster_resources()``; pass
    ``nodes``, the alive nodes' resources, so a trial never asks for more than one node has).

    Custom resources: the rung's ``resources`` table, e.g. ``{ big_node = 1 }``, so its trials
    run only on nodes started with that resource (``ray start --resources``); only those nodes
    count below. GPUs only when those nodes have some: the rung's ``num_gpus``, else one GPU per
    slot (a share when slots outnumber GPUs). CPUs: the rung's ``num_cpus``, else an equal share
    of those nodes' CPUs per slot, at least one and at most one node's worth (torch uses that
    many threads: oversubscribing a core makes CPU training many times slower).
    """
    custom = _custom(rung)
    nodes = [cluster] if nodes is None else [n for n in nodes if n]
    hosts = [n for n in nodes if _fits(n, custom)]
    if custom and not hosts:
        wanted = ", ".join(f"{k} = {v:g}" for k, v in custom)
        raise ConfigError(f"no node of the cluster offers {{{wanted}}} (custom resources on "
                          f"its nodes: {_offers(nodes)}); start worker nodes with ray start "
                          "--resources '{\"NAME\": N}' (or the node type's resources in "
                          "cluster.yaml), or drop it from the rung",
                          where=f"rung {rung.name!r}.resources")
    several = len(nodes) > 1
    cpus_total = sum(float(n.get("CPU", 0.0)) for n in hosts) if hosts else 1.0
    cpus_node = max((float(n.get("CPU", 0.0)) for n in hosts), default=1.0)
    gpus_total = sum(float(n.get("GPU", 0.0)) for n in hosts)
    gpus_node = max((float(n.get("GPU", 0.0)) for n in hosts), default=0.0)
    want_cpus, want_gpus = _requested(rung, "num_cpus"), _requested(rung, "num_gpus")
    gpus = 0.0
    if gpus_total > 0:
        gpus = want_gpus if want_gpus is not None else min(1.0, gpus_total / max_parallel)
        if gpus > gpus_node:
            holder = f"the largest node has {gpus_node:g}" if several else (
                f"the cluster has {gpus_total:g}")
            raise ConfigError(f"asks for {gpus:g} GPUs per trial; {holder}",
                              where=f"rung {rung.name!r}.num_gpus")
    if want_cpus is not None:
        cpus = want_cpus
    else:
        cpus = min(max(1.0, math.floor(cpus_total / max_parallel)), max(1.0, cpus_node))
    if cpus > cpus_node:
        holder = f"the largest node has {cpus_node:g}" if several else (
            f"the cluster has {cpus_total:g}")
        raise ConfigError(f"asks for {cpus:g} CPUs per trial; {holder}",
                          where=f"rung {rung.name!r}.num_cpus")
    return Resources(cpus, gpus, custom)


# --------------------------------------------------------------------------------------------
# The actor
# --------------------------------------------------------------------------------------------


class ProxyWorker:
    """Lives in its own process: corpora loaded once, torch threads pinned, one trial at a time.

    ``run`` never raises for a trial's own error: it returns the reason, so only a dead process
    shows up as a Ray error in the driver. ``source`` None: no corpora and no torch (a ladder of
    command rungs only).
    """

    def __init__(self, source: CorporaSource | None, resources: Resources, work: WorkFn
                 ) -> None:
        self.corpora: Corpora | None = None
        if source is not None:
            import torch

            torch.set_num_threads(resources.threads)
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            self.corpora = source.load()
            # Import the model stack now: otherwise the first trial's cost (which the study's
            # cost model learns from) includes seconds of imports.
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
        t0, cpu0 = time.perf_counter(), time.process_time()
        covariates: dict[str, float] | None = None
        try:
            if is_command_rung(request.rung.spec):
                metrics, cost = command_trial(request)
            elif self.corpora is None:
                raise ConfigError("this pool has no corpora for admire's proxy",
                                  where=f"rung {request.rung.name!r}")
            else:
                metrics, cost = self.work(self.corpora, request, self.device)
                covariates = trial_covariates(self.corpora, request)
        except CommandFailed as exc:  # the reason and the log's last lines
            return {"error": f"CommandFailed: {exc}", "cost": time.perf_counter() - t0}
        except Exception as exc:  # noqa: BLE001 - any trial error fails only that trial
            self._release_gpu_memory()  # after CUDA OOM the next trial needs a clean cache
            # charged like a finished proxy trial (CPU seconds on a CPU); a command rung's work
            # ran in its own process, so its wall seconds are the measure there
            cost = (time.perf_counter() - t0 if is_command_rung(request.rung.spec) else
                    charged_seconds(self.device, time.perf_counter() - t0,
                                    time.process_time() - cpu0))
            return {"error": short_error(exc), "cost": cost}
        reply: dict[str, Any] = {"metrics": {k: float(v) for k, v in metrics.items()},
                                 "cost": float(cost)}
        if covariates:
            reply["covariates"] = covariates
        return reply


def short_error(exc: BaseException) -> str:
    """``Type: first line of the message``: what a failed trial records as its reason."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


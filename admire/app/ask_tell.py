"""Shell-level ask/tell on a study directory, for trials trained outside Ray (Slurm, Kubernetes).

    admire init study.toml --out DIR          # or a study saved by `admire tune --out DIR`
    admire ask DIR -n 4 --json                # the next trials, marked running
    admire tell DIR 7 --metrics m.json --cost 1.5
    admire tell DIR 8 --failed "node lost"

Every call holds a lock on DIR (``DIR/.admire.lock``, an OS file lock that dies with its
process) for the whole load-modify-save, so any number of processes may call at once; each file
of the study is written atomically, so a process killed mid-call loses nothing already recorded
(the Study reconciles a save cut between two files when it loads).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from admire.errors import ValidationError
from admire.schema.config import load_config, proxy_seed
from admire.study import Study
from admire.study.storage import STUDY_FILE

LOCK_FILE = ".admire.lock"
LOCK_TIMEOUT_S = 600.0
BUDGET_TOL = 1e-9


@dataclass(frozen=True)
class Asked:
    """One trial handed out by :func:`ask`."""

    trial: int
    rung: str
    fidelity: float
    mixture: dict[str, float]
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AskResult:
    trials: list[Asked]
    stopped: str | None  # why fewer than asked (or none) were handed out
    retry: bool = False  # only for now: running trials hold the budget left; ask again later


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold DIR's lock (waits for other callers)."""
    if not directory.is_dir():
        raise ValidationError("no such study directory", where=str(directory))
    lock = FileLock(directory / LOCK_FILE, timeout=LOCK_TIMEOUT_S)
    try:
        with lock:
            yield
    except Timeout:
        raise ValidationError(f"could not take the study's lock in {LOCK_TIMEOUT_S:g}s (another "
                              f"process holds {directory / LOCK_FILE})", where=str(directory)
                              ) from None


def init_study(config_path: Path, out: Path) -> Study:
    """Create and save a new study from a config (no trial yet); refuses an existing one."""
    config = load_config(config_path)
    if (out / STUDY_FILE).exists():
        raise ValidationError("already holds a study; ask for its trials with admire ask",
                              where=str(out))
    study = Study(config)
    out.mkdir(parents=True, exist_ok=True)
    with locked(out):
        study.save(out)
    return study


def _pending_cost(study: Study) -> float:
    """Expected cost of the trials still running, in target-run units."""
    from ax.core.trial_status import TrialStatus

    return sum(study.expected_cost(study.proposal_of(i).rung)
               for i in study.trials_by_status(TrialStatus.RUNNING))


def ask(directory: Path, n: int = 1) -> AskResult:
    """Propose up to ``n`` trials, mark them running and save. Like the live loop, a trial the
    budget cannot pay for at its expected cost (beside those running) is not handed out."""
    if n < 1:
        raise ValidationError(f"must be >= 1, got {n}", where="-n")
    with locked(directory):
        study = Study.load(directory)
        cap = study.budget.max_trials
        if cap is not None:
            room = cap - len(study.experiment.trials)
            if room <= 0:
                return AskResult([], f"max_trials reached ({cap})")
            n = min(n, room)
        total, spent = study.budget.total, study.spent()
        committed = spent + _pending_cost(study)  # before proposing: new trials run too
        proposals = study.propose(n)
        stopped, retry = (None, False) if proposals else ("nothing left to propose", False)
        handed = []
        for i, proposal in enumerate(proposals):
            cost = study.expected_cost(proposal.rung)
            if total is not None and committed + cost > total + BUDGET_TOL:
                for rest in proposals[i:]:
                    study.abandon(rest.trial_index, "over budget")
                retry = spent + cost <= total + BUDGET_TOL
                stopped = (f"the budget left is held by running trials: ask again once they "
                           f"are told ({total:g} target-run units)" if retry else
                           f"budget reached ({total:g} target-run units)")
                break
            committed += cost
            handed.append(proposal)
        if proposals:
            study.save(directory)
        seed = proxy_seed(study.config)
        return AskResult([Asked(p.trial_index, p.rung, p.fidelity, dict(p.mixture), seed)
                          for p in handed], stopped, retry and not handed)


def read_metrics(path: Path) -> dict[str, float]:
    """A metrics JSON object (``{name: number}``; non-numbers are skipped, as for command
    rungs); errors name the file."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError("file not found", where=f"--metrics {path}") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"not readable JSON ({exc})", where=f"--metrics {path}") from None
    if not isinstance(payload, Mapping):
        raise ValidationError(f"must be a JSON object of metrics, got {type(payload).__name__}",
                              where=f"--metrics {path}")
    return {str(k): float(v) for k, v in payload.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def tell(directory: Path, trial: int, *, metrics: Path | None = None,
         cost: float | None = None, failed: str | None = None) -> Study:
    """Record trial ``trial``: completed with ``metrics`` (a JSON file) and ``cost`` (else the
    file's ``cost``), or failed with the reason ``failed``; returns the saved study."""
    if (metrics is None) == (failed is None):
        raise ValidationError("give either --metrics FILE (and --cost) or --failed REASON",
                              where=f"trial {trial}")
    if cost is not None and (not math.isfinite(cost) or cost < 0):
        raise ValidationError(f"must be a finite number >= 0, got {cost}", where="--cost")
    values = read_metrics(metrics) if metrics is not None else {}
    file_cost = values.pop("cost", None)
    if metrics is not None and cost is None and file_cost is None:
        raise ValidationError("no cost: pass --cost C or put \"cost\" in the metrics file",
                              where=f"trial {trial}")
    with locked(directory):
        study = Study.load(directory)
        if failed is not None:
            study.fail(trial, failed, cost=cost or 0.0)
        else:
            study.complete(trial, values, cost if cost is not None else float(file_cost or 0),
                           seed=proxy_seed(study.config))
        study.save(directory)
    return study

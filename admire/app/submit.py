"""Submit a live study to a Ray cluster as a Ray job (``admire submit``).

The job runs ``<python> -m admire tune CONFIG --out OUT --address auto`` on the head node, with
the project folder uploaded as the job's working_dir (virtualenv, outputs and git history left
out), so the cluster runs exactly the code and configs of this checkout.

The interpreter defaults to this one (``sys.executable``): a plain ``python`` in a job's entrypoint
is whatever the head node's PATH finds first, often not the environment admire is installed in.
On a cluster started with ``ray up ray_cluster/cluster.yaml`` pass ``--python python``.
"""

from __future__ import annotations

import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from admire.errors import ConfigError, ValidationError
from admire.schema.config import load_config

EXCLUDES = (".venv/", "out/", ".git/", "__pycache__/", "*.pyc", ".pytest_cache/",
            ".ruff_cache/", ".hypothesis/", "*.egg-info/", ".ipynb_checkpoints/")


@dataclass(frozen=True)
class JobPlan:
    """What is submitted: the shell entrypoint, the runtime_env and where results go."""

    study: str
    entrypoint: str
    runtime_env: dict[str, Any]
    out: str
    metadata: dict[str, str] = field(default_factory=dict)


def default_out(study: str) -> str:
    """A folder on the head node that outlives the job's temporary working_dir."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", study).strip("-") or "study"
    return f"$HOME/admire-out/{safe}"


def plan_job(config: str | Path, *, working_dir: str | Path | None = None,
             out: str | None = None, python: str | None = None, resume: bool = False
             ) -> JobPlan:
    """Validate the config locally, then build the job (nothing is contacted here)."""
    root = Path(working_dir or Path.cwd()).resolve()
    path = Path(config).resolve()
    study = load_config(path).name  # a bad config fails here, not on the cluster
    try:
        relative = path.relative_to(root)
    except ValueError:
        raise ValidationError(f"the config must be inside the uploaded working dir {root} "
                              "(run from the project folder or pass --working-dir)",
                              where=str(path)) from None
    target = out or default_out(study)
    # $HOME in the default is left for the head node's shell to expand; a given path is quoted.
    out_arg = f'"{target}"' if out is None else shlex.quote(target)
    parts = [shlex.quote(python or sys.executable), "-m", "admire", "tune",
             shlex.quote(relative.as_posix()), "--out", out_arg, "--address", "auto"]
    if resume:
        parts.append("--resume")
    runtime_env = {"working_dir": str(root), "excludes": list(EXCLUDES),
                   "env_vars": {"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}}
    return JobPlan(study, " ".join(parts), runtime_env, target, {"admire_study": study})


AGENT_WAIT_S = 60.0  # how long a fresh cluster may take to start accepting jobs


def submit_job(plan: JobPlan, address: str) -> str:
    """Submit through the Ray Jobs SDK; returns the job's submission id."""
    from ray.job_submission import JobSubmissionClient

    try:
        client = JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"cannot reach the Ray dashboard: {exc}",
                          where=f"--address {address}") from None
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        try:
            return client.submit_job(entrypoint=plan.entrypoint, runtime_env=plan.runtime_env,
                                     metadata=plan.metadata)
        except RuntimeError as exc:
            # A head started moments ago answers 500 "No available agent" until its job agent
            # has registered: wait for it (bounded) instead of failing the submission.
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(1.0)

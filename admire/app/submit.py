"""Submit a live study to a Ray cluster as a Ray job (``admire submit``).

The job runs ``<python> -m admire tune CONFIG --out OUT --address auto`` on the head node, with
the project folder uploaded as the job's working_dir (virtualenv, outputs and git history left
out), so the cluster runs exactly the code and configs of this checkout.

The interpreter defaults to this one (``sys.executable``): a plain ``python`` in a job's entrypoint
is whatever the head node's PATH finds first, often not the environment admire is installed in.
On a cluster started with ``ray up ray_cluster/cluster.yaml`` pass ``--python python``.

Token auth (on by default in Ray 2.60 for a head whose user has a token): the head's dashboard
is asked whether it wants one; if so the token Ray's own clients would use
(``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``) is sent, and the printed
``ray job`` commands carry ``RAY_AUTH_MODE=token`` so they send it too. An unreachable head, a
missing or refused token is a ``ConfigError`` naming the address and what to do.
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
from admire.evaluators.ray import auth
from admire.evaluators.ray.auth import Token
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
    loaded = load_config(path)  # a bad config fails here, not on the cluster
    if not resume:
        from admire.app.check import check_before_start

        check_before_start(loaded, path)
    study = loaded.name
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
PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Head:
    """A Ray head's dashboard as a job client sees it: its URL, whether it wants a token, and
    the token this machine will send (``None`` when the head wants none)."""

    url: str
    auth_mode: str
    token: Token | None = None

    @property
    def headers(self) -> dict[str, str]:
        return self.token.headers if self.token is not None else {}


@dataclass(frozen=True)
class SubmittedJob:
    """A submitted job and the ``ray job`` commands that follow it (they work as printed: on a
    head with token auth they run in token mode and read the same token admire sent)."""

    job_id: str
    head: Head

    def ray_job(self, verb: str, *flags: str) -> str:
        prefix = f"{auth.MODE_VAR}=token " if self.head.token is not None else ""
        return " ".join([f"{prefix}ray job {verb}", *flags, self.job_id, "--address",
                         self.head.url])


def dashboard_url(address: str) -> str:
    """``http://HOST:PORT`` from what the user typed (``HOST:PORT`` gets ``http://``)."""
    url = address.strip().rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    if not url.startswith(("http://", "https://")):
        raise ConfigError("expected the Ray dashboard's URL, http://HOST:PORT (port 8265 by "
                          "default), not a GCS or Ray Client address", where=f"--address {address}")
    return url


def probe_head(address: str) -> Head:
    """Ask the dashboard whether it wants a token (a public endpoint since Ray 2.60) and find
    the token to send; an unreachable or non-Ray address fails here, naming it."""
    import requests

    url = dashboard_url(address)
    where = f"--address {address}"
    try:
        reply = requests.get(f"{url}/api/authentication_mode", timeout=PROBE_TIMEOUT_S)
    except requests.RequestException as exc:
        raise ConfigError(f"cannot reach a Ray dashboard there ({type(exc).__name__}); start "
                          "the head with `ray start --head --dashboard-host 127.0.0.1` (or "
                          "forward a remote one with `ray dashboard ray_cluster/cluster.yaml`) "
                          "and pass its dashboard URL, http://HOST:8265", where=where) from None
    if reply.status_code == 404:  # a Ray without token auth
        return Head(url, "disabled")
    try:
        mode = str(reply.json()["authentication_mode"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"this is not a Ray dashboard (HTTP {reply.status_code} from "
                          "/api/authentication_mode); pass the head's dashboard URL, "
                          "http://HOST:8265", where=where) from None
    if mode != "token":
        return Head(url, mode)
    token = auth.find_token()
    if token is None:
        raise ConfigError(f"the Ray head uses token auth and no token was found here "
                          f"({auth.token_source()}): {auth.where_to_get_it(address)}",
                          where=where)
    return Head(url, mode, token)


def submit(plan: JobPlan, address: str) -> SubmittedJob:
    """Submit through the Ray Jobs SDK, with the head's token when it wants one."""
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    head = probe_head(address)
    where = f"--address {address}"
    try:
        client = JobSubmissionClient(head.url, headers=head.headers)
        return SubmittedJob(_submit_when_ready(client, plan), head)
    except AuthenticationError:
        source = head.token.source if head.token else auth.token_source()
        raise ConfigError(f"the Ray head refused the auth token from {source}: "
                          f"{auth.where_to_get_it(address)}", where=where) from None
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"the Ray head did not take the job ({_first_line(exc)}); check "
                          "the head with `ray status` on it, and that --working-dir is the "
                          "project folder (the upload is limited to 100 MiB)",
                          where=where) from None


def submit_job(plan: JobPlan, address: str) -> str:
    """Submit through the Ray Jobs SDK; returns the job's submission id."""
    return submit(plan, address).job_id


def _submit_when_ready(client: Any, plan: JobPlan) -> str:
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        try:
            return str(client.submit_job(entrypoint=plan.entrypoint,
                                         runtime_env=plan.runtime_env, metadata=plan.metadata))
        except RuntimeError as exc:
            # A head started moments ago answers 500 "No available agent" until its job agent
            # has registered: wait for it (bounded) instead of failing the submission.
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".strip().rstrip(".")

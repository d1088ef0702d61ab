"""``admire submit``: the job it builds, the cluster template, and real jobs on local heads
started the README's way, with Ray's default token auth on (and off), plus the errors a user
sees for an unreachable head or a missing or wrong token."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from live_helpers import free_port, ray_head, token_headers, write_study
from typer.testing import CliRunner

from admire.app.cli import app
from admire.app.submit import plan_job
from admire.errors import ValidationError

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_job_runs_this_python_on_the_uploaded_checkout(tmp_path):
    config = write_study(tmp_path / "project" / "studies", tmp_path / "cache")
    plan = plan_job(config, working_dir=tmp_path / "project", out="/data/my out")
    assert plan.entrypoint.endswith("-m admire tune studies/study.toml --out '/data/my out' "
                                    "--address auto")
    assert plan.runtime_env["working_dir"] == str((tmp_path / "project").resolve())
    assert {".venv/", "out/", ".git/"} <= set(plan.runtime_env["excludes"])
    default = plan_job(config, working_dir=tmp_path / "project", python="python", resume=True)
    assert default.entrypoint.startswith("python -m admire tune")
    assert '--out "$HOME/admire-out/micro"' in default.entrypoint
    assert default.entrypoint.endswith("--resume")


def test_a_config_outside_the_working_dir_is_refused(tmp_path):
    config = write_study(tmp_path / "elsewhere", tmp_path / "cache")
    with pytest.raises(ValidationError, match="inside the uploaded working dir"):
        plan_job(config, working_dir=tmp_path / "project")


def test_a_budget_below_the_references_is_refused_before_a_job_starts(tmp_path):
    config = write_study(tmp_path / "project", tmp_path / "cache")
    config.write_text(config.read_text().replace("max_trials = 4", "max_trials = 4\nbudget = 0.5"))
    with pytest.raises(ValidationError, match="cannot pay for the study's 2 reference run"):
        plan_job(config, working_dir=tmp_path / "project")
    plan_job(config, working_dir=tmp_path / "project", resume=True)  # a started study runs on


def test_cluster_template_passes_rays_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(yaml.safe_load((REPO / "ray_cluster" / "cluster.yaml").read_text()))
    validate_config(config)
    types = config["available_node_types"]
    assert types["head"]["resources"] == {"CPU": 0}  # trials never land on the driver's node
    assert types["gpu_small"]["resources"] == {"small_gpu": 1}
    assert types["gpu_large"]["resources"] == {"large_gpu": 4}
    assert all(types[t]["min_workers"] >= 1 for t in ("gpu_small", "gpu_large"))
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):  # token auth on
        assert "RAY_AUTH_MODE=token" in config[key][-1]
        assert "RAY_AUTH_TOKEN_PATH=/home/ray/admire-auth/auth_token" in config[key][-1]
    assert config["file_mounts"]["/home/ray/admire-auth"] == "~/.ray"


def test_an_unreachable_head_is_one_error_line_naming_it(tmp_path):
    config = write_study(tmp_path / "project", tmp_path / "cache")
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["submit", str(config), "--address", url, "--working-dir",
                                 str(tmp_path / "project")])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    line = one_line(result.output)
    assert line.startswith(f"error: --address {url}: cannot reach a Ray dashboard there")
    assert "ray start --head" in line and "http://HOST:8265" in line


def one_line(output: str) -> str:
    """The error as the terminal shows it, unwrapped; it must be a single message."""
    assert "Traceback" not in output
    assert output.count("error:") == 1, output
    return " ".join(output.split())


def wait_terminal(client, job_id: str, timeout_s: float = 240.0) -> str:
    deadline = time.monotonic() + timeout_s
    while not client.get_job_status(job_id).is_terminal():
        assert time.monotonic() < deadline, client.get_job_logs(job_id)[-3000:]
        time.sleep(2)
    return client.get_job_logs(job_id)


def printed(output: str, label: str) -> str:
    """A command ``admire submit`` printed (``follow it:``, ``status:``)."""
    match = re.search(rf"^{label}\s+(.+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1).strip()


def run_printed(command: str) -> subprocess.CompletedProcess:
    """Run a printed command as a user would paste it (``ray`` of this environment first on
    PATH), without following the logs."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    env.pop("RAY_AUTH_MODE", None)  # as in a fresh shell: the printed command sets what it needs
    return subprocess.run(["bash", "-c", command.replace(" -f ", " ")], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def stock_head():
    """A head started the README's way by a user who has a token: token auth is on."""
    with ray_head() as url:
        yield url


@pytest.mark.slow
def test_submit_runs_a_micro_study_on_a_token_auth_head(tmp_path, stock_head):
    from ray.job_submission import JobStatus, JobSubmissionClient

    url = stock_head
    assert requests.get(f"{url}/api/authentication_mode", timeout=10).json() == {
        "authentication_mode": "token"}  # the head wants a token: this test meets auth
    project = tmp_path / "project"
    config = write_study(project, tmp_path / "cache", max_trials=3)
    out = tmp_path / "job-out"
    result = runner.invoke(app, ["submit", str(config), "--address", url, "--out", str(out),
                                 "--working-dir", str(project)])
    assert result.exit_code == 0, result.output
    job_id = re.search(r"as job (\S+)", result.output).group(1)
    follow, status = printed(result.output, "follow it:"), printed(result.output, "status:")
    assert follow == f"RAY_AUTH_MODE=token ray job logs -f {job_id} --address {url}"
    assert status == f"RAY_AUTH_MODE=token ray job status {job_id} --address {url}"
    assert "auth:       token from " in result.output
    client = JobSubmissionClient(url, headers=token_headers())
    logs = wait_terminal(client, job_id)
    assert client.get_job_status(job_id) == JobStatus.SUCCEEDED, logs[-3000:]
    assert "max_trials reached (3)" in logs
    rec = json.loads((out / "recommendation.json").read_text())
    assert rec["recommendation"]["rung"] == "r1" and len(rec["failures"]) == 0
    assert (out / "runs.parquet").exists()
    # The printed commands work as printed, and only because of their auth prefix.
    shown = run_printed(status)
    assert shown.returncode == 0 and "succeeded" in (shown.stdout + shown.stderr).lower()
    shown = run_printed(follow)
    assert shown.returncode == 0 and "max_trials reached (3)" in shown.stdout, shown.stderr
    bare = run_printed(status.removeprefix("RAY_AUTH_MODE=token "))
    assert bare.returncode != 0 and "Authentication" in bare.stdout + bare.stderr


@pytest.mark.slow
def test_a_missing_or_wrong_token_is_one_error_line(tmp_path, stock_head, monkeypatch):
    url = stock_head
    project = tmp_path / "project"
    config = write_study(project, tmp_path / "cache")
    args = ["submit", str(config), "--address", url, "--working-dir", str(project)]
    empty_home = tmp_path / "home"
    empty_home.mkdir()
    with monkeypatch.context() as env:
        env.setenv("HOME", str(empty_home))  # a machine without the head's token
        result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    line = one_line(result.output)
    assert line.startswith(f"error: --address {url}: the Ray head uses token auth and no "
                           f"token was found here ({empty_home}/.ray/auth_token)")
    assert "ray get-auth-token" in line and "RAY_AUTH_TOKEN" in line
    with monkeypatch.context() as env:
        env.setenv("RAY_AUTH_TOKEN", "not-the-heads-token")
        result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    line = one_line(result.output)
    assert line.startswith(f"error: --address {url}: the Ray head refused the auth token "
                           "from $RAY_AUTH_TOKEN")
    assert "ray get-auth-token" in line


@pytest.mark.slow
def test_submit_to_a_head_with_auth_disabled(tmp_path):
    from ray.job_submission import JobSubmissionClient

    project = tmp_path / "project"
    config = write_study(project, tmp_path / "cache", max_trials=2)
    with ray_head(auth="disabled") as url:
        assert requests.get(f"{url}/api/authentication_mode", timeout=10).json() == {
            "authentication_mode": "disabled"}
        result = runner.invoke(app, ["submit", str(config), "--address", url, "--out",
                                     str(tmp_path / "out"), "--working-dir", str(project)])
        assert result.exit_code == 0, result.output
        job_id = re.search(r"as job (\S+)", result.output).group(1)
        status = printed(result.output, "status:")
        assert status == f"ray job status {job_id} --address {url}"
        assert "auth:" not in result.output
        shown = run_printed(status)
        assert shown.returncode == 0, shown.stderr
        client = JobSubmissionClient(url)
        client.stop_job(job_id)
        wait_terminal(client, job_id, timeout_s=60)

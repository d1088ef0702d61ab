"""``admire submit``: the job it builds, the cluster template, and a real job on a local head."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml
from live_helpers import ray_head, write_study
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


def test_cluster_template_passes_rays_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(yaml.safe_load((REPO / "ray_cluster" / "cluster.yaml").read_text()))
    validate_config(config)
    assert "gpu_worker" in config["available_node_types"]


@pytest.mark.slow
def test_submit_runs_a_micro_study_as_a_ray_job(tmp_path):
    from ray.job_submission import JobStatus, JobSubmissionClient

    project = tmp_path / "project"
    config = write_study(project, tmp_path / "cache", max_trials=3)
    out = tmp_path / "job-out"
    with ray_head() as url:
        result = runner.invoke(app, ["submit", str(config), "--address", url, "--out", str(out),
                                     "--working-dir", str(project)])
        assert result.exit_code == 0, result.output
        job_id = re.search(r"as job (\S+)", result.output).group(1)
        assert f"ray job logs -f {job_id} --address {url}" in result.output
        client = JobSubmissionClient(url)
        deadline = time.monotonic() + 240
        while not client.get_job_status(job_id).is_terminal():
            assert time.monotonic() < deadline, client.get_job_logs(job_id)[-3000:]
            time.sleep(2)
        logs = client.get_job_logs(job_id)
        assert client.get_job_status(job_id) == JobStatus.SUCCEEDED, logs[-3000:]
    assert "max_trials reached (3)" in logs
    rec = json.loads((out / "recommendation.json").read_text())
    assert rec["recommendation"]["rung"] == "r1" and len(rec["failures"]) == 0
    assert (out / "runs.parquet").exists()

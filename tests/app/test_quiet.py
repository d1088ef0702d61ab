"""Known-harmless library warnings and notices are hidden at their source (admire.app.quiet),
and commands that fit models print none of them."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import DATASET_PARQUET

NOISE = re.compile(r"Sparse invariant checks|SEGFAULT|Started a local Ray instance|"
                   r"Token authentication is enabled|UserWarning|FutureWarning")

FIT_MULTI_TASK_GP = """
import admire  # what every admire process, replay's spawned workers included, imports first
import logging, torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import MultiTaskGP
from gpytorch.mlls import ExactMarginalLogLikelihood
torch.set_num_threads(1)
torch.manual_seed(0)
x = torch.cat([torch.rand(8, 2, dtype=torch.float64),
               (torch.arange(8) % 2).unsqueeze(-1).double()], dim=-1)
model = MultiTaskGP(x, x[:, :1].sin(), task_feature=-1)
fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
logging.basicConfig()
worker = logging.getLogger("ray._private.worker")
worker.warning("Started a local Ray instance.")
worker.warning("a notice that stays")
logging.getLogger("ray._private.authentication.authentication_token_setup").warning(
    "Token authentication is enabled for this Ray cluster. Set RAY_AUTH_MODE=disabled ...")
"""


def test_known_harmless_warnings_are_hidden_and_nothing_else():
    """Fitting the ICM multi-task GP makes torch warn about sparse invariant checks, once per
    process (so only a fresh process shows it); importing admire hides that and Ray's start and
    token-auth notices (logged by ray.init, emulated here), and nothing else."""
    done = subprocess.run([sys.executable, "-c", FIT_MULTI_TASK_GP], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "WARNING:ray._private.worker:a notice that stays"


def test_runs_info_prints_no_library_noise():
    done = subprocess.run([sys.executable, "-m", "admire", "runs", "info", str(DATASET_PARQUET),
                           "--metric", "avg_id+ood"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and "0.593815" in done.stdout


def test_replay_with_the_multi_task_gp_prints_no_library_noise(tmp_path):
    done = subprocess.run([sys.executable, "-m", "admire", "replay", str(DATASET_PARQUET),
                           "--objective", "avg_id+ood", "--methods", "mfbo", "--seeds", "1",
                           "--budget", "1", "--workers", "1", "--out", str(tmp_path / "replay")],
                          capture_output=True, text=True, timeout=300)
    assert not NOISE.search(done.stdout + done.stderr), done.stderr
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr

"""Shared fixtures: the vendored dataset and small valid tables.

The whole test session runs with a temporary ``HOME`` and Ray's default auth mode: Ray 2.60
writes ``~/.ray/auth_token`` when a test starts a local cluster and then turns token auth on for
every head of that user, so a test's token must never land in (or come from) the real home, and
tests must meet token auth as users do (forcing ``RAY_AUTH_MODE=disabled`` once hid a broken
``admire submit``). The corpus cache stays where it was (``ADMIRE_CACHE``), so the session
builds nothing twice.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

# One thread per test process: two CPU-bound processes with two threads each run many times
# slower on a 2-core machine (see NOTES-ax-botorch-ray.md).
torch.set_num_threads(1)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ADMIRE_CACHE", str(Path.home() / ".cache" / "admire"))
os.environ.setdefault("MPLCONFIGDIR", str(Path.home() / ".config" / "matplotlib"))
# Ray: the default auth mode, no token or cluster of the user's, no usage reports.
for _name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
    os.environ.pop(_name, None)
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
SESSION_HOME = tempfile.mkdtemp(prefix="admire-test-home-")
os.environ["HOME"] = SESSION_HOME

REPO = Path(__file__).resolve().parents[1]
DATASET_CSV = REPO / "runs_dataset" / "admire_ift_runs.csv"
DATASET_PARQUET = REPO / "runs_dataset" / "admire_ift_runs.parquet"
ADMIRE_ORDER = "Qwen2.5-0.5B,Qwen2.5-3B,Qwen2.5-7B"


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(SESSION_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def admire_table():
    from admire.schema import runs

    return runs.read_runs(DATASET_PARQUET)


@pytest.fixture(scope="session")
def shards():
    """Writers of user-domain shards and a local tokenizer folder (``tests/shards.py``)."""
    from types import SimpleNamespace

    import shards as writers

    return SimpleNamespace(docs=writers.docs, parquet=writers.parquet_shards,
                           jsonl=writers.jsonl_shards, dataset=writers.saved_dataset,
                           tokenizer=writers.tokenizer_folder)

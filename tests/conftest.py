"""Shared fixtures: the vendored dataset and small valid tables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# One thread per test process: two CPU-bound processes with two threads each run many times
# slower on a 2-core machine (see NOTES-ax-botorch-ray.md).
torch.set_num_threads(1)
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
DATASET_CSV = REPO / "runs_dataset" / "admire_ift_runs.csv"
DATASET_PARQUET = REPO / "runs_dataset" / "admire_ift_runs.parquet"
ADMIRE_ORDER = "Qwen2.5-0.5B,Qwen2.5-3B,Qwen2.5-7B"


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

"""A study on disk: everything needed to resume exactly, each file written atomically.

A study directory holds ``runs.parquet`` (the runs table), ``experiment.json`` (Ax's JSON
storage), ``pool.parquet`` (pool mode), ``policy_state.pt`` (the fitted model's state, so the
next proposal after a restart is the same one) and ``study.json`` (config and Budget). The runs
table is written first, so the only disagreement a crash can leave is a trial still running in
the experiment whose row was written; the Study finishes it from the row when it loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from ax.core.experiment import Experiment

from admire.bo.candidates import CandidatePool
from admire.errors import ValidationError
from admire.io import atomic_write, atomic_write_json
from admire.schema import runs
from admire.schema.config import StudyConfig, config_from_dict, config_to_dict
from admire.study.ax_bridge import AxRecord
from admire.study.budget import Budget

STUDY_FILE = "study.json"
POLICY_STATE = "policy_state.pt"


@dataclass(frozen=True)
class SavedStudy:
    """What a study directory holds."""

    config: StudyConfig
    budget: Budget
    pool: CandidatePool | None
    experiment: Experiment
    runs_table: pd.DataFrame | None
    policy_state: dict[str, Any] | None


def write_study(directory: str | Path, *, config: StudyConfig, budget: Budget,
                runs_table: pd.DataFrame, ax: AxRecord, pool: CandidatePool | None,
                policy_state: dict[str, Any] | None) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    runs.write_runs(runs_table, directory / "runs.parquet", rungs=config.ladder.names)
    ax.save(directory / "experiment.json")
    if pool is not None:
        frame = pd.DataFrame(pool.weights, columns=config.domain_names)
        frame.insert(0, "rung", pool.rung)
        frame.insert(0, "id", list(pool.ids))
        atomic_write(directory / "pool.parquet", lambda tmp: frame.to_parquet(tmp, index=False))
    if policy_state is not None:
        atomic_write(directory / POLICY_STATE, lambda tmp: torch.save(policy_state, tmp))
    atomic_write_json(directory / STUDY_FILE, {
        "config": config_to_dict(config), "budget": budget.to_dict(),
        "saved_at": datetime.now(UTC).isoformat()}, indent=2)
    return directory


def read_study(directory: str | Path) -> SavedStudy:
    directory = Path(directory)
    meta_path = directory / STUDY_FILE
    if not meta_path.exists():
        raise ValidationError(f"no saved study here ({STUDY_FILE} missing)",
                              where=str(directory))
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        budget = Budget.from_dict(meta["budget"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ValidationError(f"not a readable study file ({type(exc).__name__}: {exc}); it "
                              "was not written by admire or was damaged", where=str(meta_path)
                              ) from None
    config = config_from_dict(meta["config"], where=f"{meta_path}: config")
    pool = None
    if (directory / "pool.parquet").exists():
        frame = pd.read_parquet(directory / "pool.parquet")
        pool = CandidatePool(frame[config.domain_names].to_numpy(dtype=float),
                             frame["rung"].to_numpy(dtype=int), tuple(frame["id"].astype(str)))
    runs_path = directory / "runs.parquet"
    table = runs.read_runs(runs_path, rungs=config.ladder.names) if runs_path.exists() else None
    state_path = directory / POLICY_STATE
    state = torch.load(state_path, weights_only=True) if state_path.exists() else None
    return SavedStudy(config, budget, pool,
                      AxRecord.load(directory / "experiment.json"), table, state)

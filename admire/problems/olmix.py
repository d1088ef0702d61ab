"""The Olmix swarm as a runs table: 512 proxy runs over 64 domains at one fidelity.

Source: ``runs_dataset/olmix_swarm/`` (Apache-2.0, see its DATASHEET.md). The ratios file gives
each run's mixture, the metrics file its 110 downstream metrics; both are keyed by the run id
(``run``), which becomes ``run_id``. All runs are ~30M-parameter proxies at 5x Chinchilla tokens,
so there is one rung, ``30m-5xC`` (fidelity 1.0); the source gives no costs, so every run costs
1.0 and budgets count runs.

Every metric column is bits-per-byte of the correct answer on a downstream task (lower is
better; no column is an accuracy). The objective ``mean_bpb`` is the plain mean over the 109
per-task columns: all of them except ``basic_skills:rc::olmes``, which is exactly the mean of the
six ``basic_skills_*`` columns and would count them twice. A plain mean keeps the objective easy
to state; note it weights task families by their number of tasks (57 MMLU subjects, 17 MBPP
languages, 7 Minerva math parts, ...).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from admire.errors import ValidationError
from admire.schema import runs

OLMIX_DIR = Path(__file__).resolve().parents[2] / "runs_dataset" / "olmix_swarm"
RATIOS = "full_recomputation_ratios.csv"
METRICS = "full_recomputation_metrics.csv"
KEY = "run"
ID_COLUMNS = ("run", "name", "index")
RUNG = "30m-5xC"
STUDY = "olmix-swarm"
OBJECTIVE = "mean_bpb"
AGGREGATES = ("basic_skills:rc::olmes",)  # means of other columns: left out of the objective


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise ValidationError("file not found", where=str(path))
    frame = pd.read_csv(path, index_col=0)
    missing = [c for c in ID_COLUMNS if c not in frame.columns]
    if missing:
        raise ValidationError(f"missing columns {missing}", where=str(path))
    if frame[KEY].duplicated().any():
        raise ValidationError(f"duplicate {KEY!r} ids", where=str(path))
    return frame.set_index(KEY)


def olmix_table(directory: str | Path = OLMIX_DIR) -> pd.DataFrame:
    """Join the two CSVs on the run id and return a validated runs table (512 rows)."""
    directory = Path(directory)
    ratios, metrics = _read(directory / RATIOS), _read(directory / METRICS)
    if set(ratios.index) != set(metrics.index):
        raise ValidationError(f"the two files hold different runs "
                              f"({len(set(ratios.index) ^ set(metrics.index))} differ)",
                              where=str(directory))
    metrics = metrics.loc[ratios.index]
    domain_cols = [c for c in ratios.columns if c not in ID_COLUMNS]
    metric_cols = [c for c in metrics.columns if c not in ID_COLUMNS]
    task_cols = [c for c in metric_cols if c not in AGGREGATES]
    table = pd.concat([
        pd.DataFrame({runs.RUN_ID: ratios.index.astype(str), runs.STUDY: STUDY},
                     index=ratios.index),
        ratios[domain_cols].add_prefix(runs.WEIGHT_PREFIX),
        pd.DataFrame({runs.RUNG: RUNG, runs.FIDELITY: 1.0, runs.COST: 1.0},
                     index=ratios.index),
        metrics[metric_cols].add_prefix(runs.METRIC_PREFIX),
        pd.DataFrame({runs.METRIC_PREFIX + OBJECTIVE: metrics[task_cols].mean(axis=1),
                      runs.STATUS: runs.COMPLETED, runs.SEED: pd.NA,
                      runs.STARTED_AT: pd.NaT, runs.FINISHED_AT: pd.NaT},
                     index=ratios.index),
    ], axis=1).reset_index(drop=True)
    with warnings.catch_warnings():  # validate_runs adds columns one by one: harmless here
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        validated, report = runs.validate_runs(table, source=str(directory), rungs=[RUNG])
    if report.max_weight_deviation > 1e-9:  # the source sums to 1 within 5e-16
        raise ValidationError(f"weights sum off 1 by up to {report.max_weight_deviation:.3g}",
                              where=str(directory / RATIOS))
    return validated


def objective_columns(table: pd.DataFrame) -> list[str]:
    """The metric columns averaged into ``m:mean_bpb``."""
    skip = {runs.METRIC_PREFIX + c for c in (*AGGREGATES, OBJECTIVE)}
    return [c for c in runs.metric_columns(table) if c not in skip]


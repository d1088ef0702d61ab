"""The vendored Olmix swarm becomes a valid one-rung runs table with a mean-BPB objective."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from admire.errors import ValidationError
from admire.problems import olmix
from admire.schema import runs


@pytest.fixture(scope="module")
def table():
    return olmix.olmix_table()


def test_table_shape(table):
    assert len(table) == 512
    assert len(runs.domains(table)) == 64
    assert table[runs.RUNG].unique().tolist() == [olmix.RUNG]
    assert (table[runs.FIDELITY] == 1.0).all() and (table[runs.COST] == 1.0).all()
    assert table[runs.RUN_ID].is_unique
    assert len(runs.metrics(table)) == 111  # 110 from the source + mean_bpb
    weights = table[runs.weight_columns(table)].to_numpy()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    assert runs.mixture_keys(table).is_unique


def test_objective_is_the_finite_mean_of_the_task_columns(table):
    objective = table["m:mean_bpb"].to_numpy()
    assert np.all(np.isfinite(objective))
    columns = olmix.objective_columns(table)
    assert len(columns) == 109 and "m:basic_skills:rc::olmes" not in columns
    np.testing.assert_allclose(objective, table[columns].mean(axis=1).to_numpy(), rtol=1e-12)
    assert 1.5 < objective.min() < objective.max() < 2.0  # bits per byte


def test_left_out_column_is_an_aggregate(table):
    parts = [c for c in runs.metric_columns(table) if c.startswith("m:basic_skills_")]
    assert len(parts) == 6
    np.testing.assert_allclose(table[parts].mean(axis=1), table["m:basic_skills:rc::olmes"],
                               atol=1e-12)


def test_rows_keep_the_source_pairing(table):
    ratios = pd.read_csv(olmix.OLMIX_DIR / olmix.RATIOS, index_col=0).set_index("run")
    metrics = pd.read_csv(olmix.OLMIX_DIR / olmix.METRICS, index_col=0).set_index("run")
    row = table.iloc[100]
    run = row[runs.RUN_ID]
    assert row["w:arxiv"] == ratios.loc[run, "arxiv"]
    assert row["m:lambada"] == metrics.loc[run, "lambada"]


def test_vendored_files_match_their_datasheet_hashes():
    sheet = (olmix.OLMIX_DIR / "DATASHEET.md").read_text()
    for name in (olmix.RATIOS, olmix.METRICS):
        digest = hashlib.sha256((olmix.OLMIX_DIR / name).read_bytes()).hexdigest()
        assert re.search(rf"`{re.escape(name)}`.*`{digest}`", sheet)


def test_mismatched_runs_raise(tmp_path: Path):
    ratios = pd.read_csv(olmix.OLMIX_DIR / olmix.RATIOS, index_col=0)
    metrics = pd.read_csv(olmix.OLMIX_DIR / olmix.METRICS, index_col=0)
    ratios.to_csv(tmp_path / olmix.RATIOS)
    metrics.iloc[:-1].to_csv(tmp_path / olmix.METRICS)
    with pytest.raises(ValidationError, match="different runs"):
        olmix.olmix_table(tmp_path)

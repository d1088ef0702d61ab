"""Pool covariates: the tokens a pool holds, the tokens a mixture draws, the epochs implied;
recorded by the worker for each trial and kept in the runs table through Parquet and CSV."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from admire.errors import ValidationError
from admire.evaluators.ray.worker import (
    CorporaSource,
    ProxyWorker,
    Resources,
    TrialRequest,
    noop_trial,
)
from admire.proxy.corpora import Corpora, CorpusConfig, build_corpora
from admire.proxy.pool_state import TRAIN_TOKENS, column, pool_covariates
from admire.proxy.sampler import plan_mixture
from admire.schema import runs
from admire.schema.ladder import Rung

TINY = {"model": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                  "intermediate_size": 64, "max_position_embeddings": 64},
        "train": {"tokens": 8 * 32 * 40, "batch_size": 8, "seq_len": 32, "lr": 1e-2,
                  "eval_tokens": 1024}}


def test_drawn_tokens_and_epochs_match_the_samplers_plan():
    pool = {"a": 1000, "b": 50_000, "c": 7}
    w = {"a": 0.37, "b": 0.63}
    cov = pool_covariates(w, pool, 2048)
    plan = plan_mixture(w, pool, 2048, seq_len=2)
    for d in pool:
        assert cov[column("tokens", d)] == pool[d]
        assert cov[column("drawn", d)] == plan.counts[d]
        assert cov[column("epochs", d)] == pytest.approx(plan.epochs[d])
    assert sum(cov[column("drawn", d)] for d in pool) == 2048
    assert cov[column("epochs", "a")] == pytest.approx(round(0.37 * 2048) / 1000)
    assert cov[column("epochs", "c")] == 0.0
    assert cov[TRAIN_TOKENS] == 2048


@pytest.mark.parametrize(("weights", "pool", "tokens", "where"), [
    ({"a": 1.0}, {"a": 0}, 100, "pool_tokens['a']"),
    ({"a": 1.0}, {"a": -1}, 100, "pool_tokens['a']"),
    ({"a": 1.0}, {"a": math.nan}, 100, "pool_tokens['a']"),
    ({"z": 1.0}, {"a": 10}, 100, "pool_tokens"),
    ({"a": 1.0}, {"a": 10}, 0, "train_tokens"),
])
def test_bad_inputs_name_their_place(weights, pool, tokens, where):
    with pytest.raises(ValidationError) as err:
        pool_covariates(weights, pool, tokens)
    assert err.value.where == where


CORPUS = CorpusConfig(max_bytes=30_000, max_doc_chars=4_000)
DOMAINS = {"math": "math", "code": "code"}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def corpora(cache) -> Corpora:
    return build_corpora(list(DOMAINS), CORPUS, cache_dir=cache)


def test_worker_reply_carries_the_trials_covariates(corpora, cache):
    source = CorporaSource.of(corpora, DOMAINS, CORPUS, cache)  # as `admire tune` hands it over
    worker = ProxyWorker(source, Resources(1.0), noop_trial)
    rung = Rung(name="r0", cost_estimate=1.0, fidelity=1.0, spec=TINY)
    reply = worker.run(TrialRequest(0, {"math": 0.25, "code": 0.75}, rung))
    cov = reply["covariates"]
    available = corpora.available_tokens()
    assert cov == pool_covariates({"math": 0.25, "code": 0.75}, available, 8 * 32 * 40)
    assert cov[column("epochs", "code")] == pytest.approx(0.75 * 8 * 32 * 40 / available["code"])


def _table(with_pool: bool) -> pd.DataFrame:
    data: dict[str, object] = {"run_id": ["r0", "r1"], "study": "s", "w:a": [0.2, 0.9],
                               "w:b": [0.8, 0.1], "rung": "small", "fidelity": 1.0,
                               "cost": 1.0, "m:loss": [1.0, 2.0], "status": "completed",
                               "seed": [0, 1], "started_at": pd.NaT, "finished_at": pd.NaT}
    if with_pool:
        for i, w in enumerate(([0.2, 0.8], [0.9, 0.1])):
            cov = pool_covariates(dict(zip("ab", w, strict=True)), {"a": 100, "b": 4000}, 1000)
            for k, v in cov.items():
                data.setdefault(k, [np.nan, np.nan])[i] = v  # type: ignore[index]
    return pd.DataFrame(data)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_pool_columns_round_trip_and_old_tables_stay_valid(tmp_path, suffix):
    path = tmp_path / f"runs{suffix}"
    written = runs.write_runs(_table(True), path)
    back = runs.read_runs(path)
    assert runs.pool_columns(back) == runs.pool_columns(written)
    assert back["pool:epochs:a"].tolist() == pytest.approx([2.0, 9.0])
    assert list(back.columns) == runs.canonical_order(back)
    appended = runs.append_runs(_table(False).assign(run_id=["r2", "r3"]), path)
    assert appended["pool:tokens:b"].isna().tolist() == [False, False, True, True]
    assert runs.pool_columns(runs.validate_runs(_table(False))[0]) == []


def test_negative_pool_covariate_names_row_and_column():
    bad = _table(True)
    bad.loc[1, "pool:tokens:a"] = -5.0
    with pytest.raises(ValidationError) as err:
        runs.validate_runs(bad)
    assert "row 2" in err.value.where and "pool:tokens:a" in err.value.where

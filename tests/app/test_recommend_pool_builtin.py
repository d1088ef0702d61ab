"""``recommend --pool`` with ``max_bytes``: the study's built-in corpora rebuilt at that size
give the new pool's tokens; runs recorded by the worker's own covariates (no Ray needed: the
worker class runs in-process)."""

from __future__ import annotations

import json

import pytest
from live_helpers import write_study
from typer.testing import CliRunner

from admire.app.cli import app
from admire.app.proxy_settings import ProxySettings
from admire.evaluators.ray.worker import (
    CorporaSource,
    ProxyWorker,
    Resources,
    TrialRequest,
    noop_trial,
)
from admire.proxy.corpora import build_corpora
from admire.schema.config import load_config
from admire.study import Study


def test_recommend_for_built_in_corpora_twice_the_size(tmp_path):
    config = load_config(write_study(tmp_path, tmp_path / "cache", code_max_epochs=50.0))
    settings = ProxySettings.from_config(config)
    sources = settings.domain_sources(config)
    corpora = build_corpora(sources, settings.corpus, cache_dir=settings.cache_dir)
    source = CorporaSource.of(corpora, sources, settings.corpus, settings.cache_dir)
    worker = ProxyWorker(source, Resources(1.0), noop_trial)
    study = Study(config)
    for p in study.propose(6):
        reply = worker.run(TrialRequest(p.trial_index, p.mixture, config.ladder.rung(p.rung)))
        value = sum((w - 1 / 3) ** 2 for w in p.mixture.values())
        study.complete(p.trial_index, {m: value for m in ("objective", "train_loss",
                       "tokens_per_s", "wall_s", "flops", "n_params", "val_loss:math",
                       "val_loss:scripture", "val_loss:code")}, 1.0,
                       covariates=reply["covariates"])
    study.save(tmp_path / "out")
    pool = tmp_path / "bigger.toml"
    pool.write_text("max_bytes = 80000\n", encoding="utf-8")
    shown = CliRunner().invoke(app, ["recommend", str(tmp_path / "out"), "--pool", str(pool)])
    assert shown.exit_code == 0, shown.output
    rec = json.loads((tmp_path / "out" / "recommendation_pool.json").read_text(encoding="utf-8"))
    old = corpora.available_tokens()
    for d in ("math", "code"):  # twice the bytes (40,000 in the study), about twice the tokens
        assert rec["pool_tokens"][d] > 1.5 * old[d]
    assert sum(rec["mixture"].values()) == pytest.approx(1.0)
    assert "extrapolation:" in shown.output

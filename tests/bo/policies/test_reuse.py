"""The reuse policy: unaffected domains keep the previous best mixture's relative shares, only
the split or added domains (and their total mass) are searched, in both modes, and a reused
study resumes exactly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import warm_studies
from helpers import make_config
from warm_studies import NEW, new_score
from warm_studies import warm_config as config

from admire.bo.candidates import CandidatePool
from admire.bo.policies.registry import policy_spec
from admire.errors import ConfigError
from admire.schema.config import DomainConfig
from admire.schema.warm_start import WarmStartConfig
from admire.study import Study
from admire.study.loop import run_function


@pytest.fixture(scope="module")
def old_study(tmp_path_factory):
    return warm_studies.old_study(tmp_path_factory.mktemp("old") / "study")


def test_continuous_proposals_freeze_the_unaffected_shares(old_study):
    study = Study(config(old_study, budget=6.0))  # five target runs (no screens by default)
    assert study.policy.affected.tolist() == [True, True, False, False, True]
    anchor = study.prior.anchor
    ratio = anchor[2] / (anchor[2] + anchor[3])
    run_function(study, new_score, trials=5)
    w = study.runs[[f"w:{d}" for d in NEW]].to_numpy()
    np.testing.assert_allclose(w[:, 2] / (w[:, 2] + w[:, 3]), ratio, atol=1e-9)
    assert w[:, [0, 1, 4]].sum(axis=1).std() > 0  # the affected group's mass is searched
    assert w[:, [0, 1, 4]].std(axis=0).min() > 0  # and its split between the affected
    assert study.n_completed == 5 and study.history().n_trials == 5


def test_pool_mode_proposes_only_from_the_focus_set(old_study):
    rng = np.random.default_rng(0)
    mixtures = rng.dirichlet(np.ones(len(NEW)), size=40)
    pool = CandidatePool(np.repeat(mixtures, 3, axis=0), np.tile(np.arange(3), 40),
                         tuple(f"c{i}" for i in range(120)))
    study = Study(config(old_study, mode="pool", focus_share=0.25), pool=pool)
    focus = set(study.policy.pool.ids)
    assert 0 < len(focus) < len(pool) / 2
    run_function(study, new_score, trials=6)
    assert {study.ax.candidate(i) for i in study.ax.indices()} <= focus


def test_a_random_focus_keeps_as_many_mixtures_without_looking_at_the_anchor(old_study):
    rng = np.random.default_rng(0)
    mixtures = rng.dirichlet(np.ones(len(NEW)), size=40)
    pool = CandidatePool(np.repeat(mixtures, 3, axis=0), np.tile(np.arange(3), 40),
                         tuple(f"c{i}" for i in range(120)))

    def focus(**options) -> set[str]:
        return set(Study(config(old_study, mode="pool", focus_share=0.25, **options),
                         pool=pool).policy.pool.ids)

    anchored, drawn = focus(), focus(focus="random")
    assert len(drawn) == len(anchored) and drawn != anchored
    assert focus(focus="random") == drawn  # seeded
    assert focus(focus="random", seed=5) != drawn
    ids = np.array(pool.ids)
    for kept in (anchored, drawn):  # whole mixtures: a kept mixture keeps every rung
        assert np.isin(ids, list(kept)).reshape(40, 3).all(axis=1).sum() * 3 == len(kept)


def test_reuse_resumes_with_the_same_next_proposal(old_study, tmp_path):
    study = Study(config(old_study, seed=3))
    run_function(study, new_score, trials=3)
    study.save(tmp_path / "s")
    expected = study.propose(1)[0]
    resumed = Study.load(tmp_path / "s")
    got = resumed.propose(1)[0]
    assert got.rung == expected.rung
    assert got.mixture == pytest.approx(expected.mixture, abs=1e-12)


def test_reuse_needs_a_warm_start_and_an_affected_domain(old_study):
    with pytest.raises(ConfigError, match="add a \\[\\[warm_start\\]\\]") as info:
        Study(make_config(policy="reuse", budget=3.0))
    assert info.value.where == "policy.name"
    same = replace(config(old_study), domains=tuple(DomainConfig(name=d)
                                                    for d in ("d0", "d1", "d2")),
                   warm_start=(WarmStartConfig(source=str(old_study)),))
    with pytest.raises(ConfigError, match="nothing to re-optimise"):
        Study(same)
    assert policy_spec("reuse", {"focus_share": 0.5}).options.focus_share == 0.5

"""Warm start: an earlier study's runs, mapped into new domains, reach the model as their own
tasks, are never charged or counted, survive a crash, and bad sources name their field."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from helpers import make_config, score

from admire.bo.policies.registry import policy_spec
from admire.errors import AdmireError, ConfigError
from admire.schema.config import DomainConfig, config_from_dict, config_to_dict
from admire.schema.warm_start import WarmStartConfig, warm_start_tables
from admire.study import Study
from admire.study.loop import run_function


def split_score(mixture: dict[str, float], rung: str) -> tuple[dict[str, float], float]:
    """``score`` over (d0a, d0b, d1, d2): d0 split in two halves of one source."""
    merged = {"d0": mixture["d0a"] + mixture["d0b"], "d1": mixture["d1"], "d2": mixture["d2"]}
    return score(merged, rung)


@pytest.fixture(scope="module")
def old_study(tmp_path_factory):
    """A finished 3-domain study on disk."""
    directory = tmp_path_factory.mktemp("old") / "study"
    study = Study(make_config(mode="continuous", seed=1))
    run_function(study, score, trials=8)
    study.save(directory)
    return directory


def new_config(source, seed: int = 0, policy: str = "kg", **options):
    config = make_config(mode="continuous", seed=seed, policy=policy, **options)
    domains = (DomainConfig(name="d0a"), DomainConfig(name="d0b"), DomainConfig(name="d1"),
               DomainConfig(name="d2"))
    item = WarmStartConfig(source=str(source), split={"d0": {"d0a": 0.5, "d0b": 0.5}})
    return replace(config, domains=domains, warm_start=(item,))


def test_prior_runs_reach_the_model_as_their_own_tasks_and_are_never_charged(old_study):
    study = Study(new_config(old_study))
    prior = study.prior
    assert prior is not None and prior.n == 8
    np.testing.assert_allclose(prior.weights.sum(axis=1), 1.0)
    np.testing.assert_allclose(prior.weights[:, 0], prior.weights[:, 1])  # the 50/50 split
    assert prior.affected == (0, 1)
    assert study.spent() == 0 and study.n_completed == 0 and study.history().n_trials == 0
    run_function(study, split_score, trials=3)
    surrogate = study.policy.model(study.history())
    data = surrogate.data
    assert data.n == 3 + 8 and len(data.rung_fidelity) == 2 * 3
    assert set(data.rung[3:].tolist()) <= {3, 4, 5}  # prior tasks follow the study's rungs
    assert surrogate.rung_correlation().shape == (6, 6)
    assert study.history().observations.n == 3 and study.n_completed == 3


def test_a_warm_started_study_recommends_before_its_first_run(old_study):
    """The earlier study's runs, mapped into the new domains, already point somewhere: a user
    gets that answer (and a replay curve its first point) at no new cost."""
    study = Study(new_config(old_study))
    rec = study.recommend()
    assert rec.n_observations == 0 and study.spent() == 0
    # no interval: none of this study's own target runs has checked one yet
    assert rec.lower90 is None and rec.interval_note.startswith(
        "no 90% interval yet: the study has 0 run(s) at the target rung")
    merged = {"d0": rec.mixture["d0a"] + rec.mixture["d0b"], "d1": rec.mixture["d1"],
              "d2": rec.mixture["d2"]}
    best = score({"d0": 0.6, "d1": 0.2, "d2": 0.2}, "large")[0]["score"]  # the optimum
    uniform = score({"d0": 1 / 3, "d1": 1 / 3, "d2": 1 / 3}, "large")[0]["score"]
    assert best - score(merged, "large")[0]["score"] < 0.25 * (best - uniform)
    assert study.predict(np.full(4, 0.25)) is not None
    with pytest.raises(AdmireError, match="nothing to recommend"):
        Study(make_config(mode="continuous", seed=1)).recommend()


@pytest.mark.parametrize("keep", [True, False])
def test_the_earlier_runs_pick_must_be_beaten_not_dropped_by_the_first_target_run(old_study,
                                                                                 keep):
    """A poor first target run (a reference, say) does not make the warm start's answer
    ineligible: the recommendation stays with it unless ``recommend_prior = false``."""
    study = Study(new_config(old_study, recommend_prior=keep))
    before = study.recommend(interval=False).weights(study.space.domains)
    poor = {"d0a": 0.05, "d0b": 0.05, "d1": 0.45, "d2": 0.45}
    index = study.attach(poor, "large", reference="poor")
    metrics, cost = split_score(poor, "large")
    study.complete(index, metrics, cost)
    after = study.recommend(interval=False).weights(study.space.domains)
    if keep:
        np.testing.assert_allclose(after, before, atol=1e-12)
    else:
        np.testing.assert_allclose(after, study.space.from_dict(poor), atol=1e-12)


def test_warm_start_resumes_after_a_crash_with_the_same_next_proposal(old_study, tmp_path):
    study = Study(new_config(old_study, seed=2))
    run_function(study, split_score, trials=4)
    study.save(tmp_path / "s")
    expected = study.propose(1)[0]
    del study
    (old_study / "runs.parquet").rename(old_study / "moved.parquet")  # the source moved away
    try:
        resumed = Study.load(tmp_path / "s")
    finally:
        (old_study / "moved.parquet").rename(old_study / "runs.parquet")
    assert resumed.prior is not None and resumed.prior.n == 8
    got = resumed.propose(1)[0]
    assert got.trial_index == expected.trial_index and got.rung == expected.rung
    assert got.mixture == pytest.approx(expected.mixture, abs=1e-12)


def test_config_round_trip_and_relative_sources(tmp_path):
    data = config_to_dict(make_config())
    data["warm_start"] = [{"source": "out/first", "renamed": {"web": "cc"},
                           "split": {"code": ["py", "other"]}, "tokens": {"py": 3.0,
                                                                         "other": 1.0}}]
    config = config_from_dict(data, base_dir=tmp_path)
    item = config.warm_start[0]
    assert item.source == str(tmp_path / "out/first") and item.split == {"code": ["py", "other"]}
    assert config_from_dict(config_to_dict(config)) == config


@pytest.mark.parametrize(("table", "where"), [
    ({"renamed": {}}, "ws[0].source"),
    ({"source": "x", "added": "math"}, "ws[0].added"),
    ({"source": "x", "bogus": 1}, "ws[0].bogus"),
    ({"source": "x", "on_removed": "keep"}, "ws[0].on_removed"),
])
def test_bad_warm_start_tables_name_the_field(table, where):
    with pytest.raises(ConfigError) as info:
        warm_start_tables([table], base_dir=None, where="ws")
    assert info.value.where == where


def test_bad_sources_name_the_field(old_study, tmp_path):
    with pytest.raises(ConfigError, match="no study directory") as info:
        Study(new_config(tmp_path / "nothing"))
    assert info.value.where == "warm_start[0].source"
    config = new_config(old_study)
    bad = replace(config, warm_start=(WarmStartConfig(source=str(old_study)),))
    with pytest.raises(ConfigError, match="'d0' is mapped nowhere"):
        Study(bad)
    with pytest.raises(ConfigError, match="does not use earlier studies") as info:
        Study(replace(config, policy=policy_spec("random")))
    assert info.value.where == "warm_start"

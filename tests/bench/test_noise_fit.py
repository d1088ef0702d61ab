"""The noise-fit bench: the GP's learned seed noise at the target beside the truth's, and the
recommended mixture's luck, read off a finished live study."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def _bench(name: str):
    sys.path.insert(0, str(REPO / "bench"))  # noise_fit imports live_synthetic beside it
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_a_row_sets_the_fitted_noise_beside_the_truths_and_the_recommendations_luck():
    bench = _bench("noise_fit")
    row = bench.noise_fit("k3-easy", "mfbo", 0, 4.0)
    study, truth, _, _ = bench.run_live("k3-easy", "mfbo", 0, 4.0)
    assert row["true_sd"] == float(truth.noise_sd[-1])
    model = study.policy.model(study.history())
    rec = study.recommend(interval=False).weights(study.space.domains)
    target = len(study.ladder.rungs) - 1
    assert row["fitted_sd"] == np.sqrt(model.noise_variance(rec[None, :], target)[0])
    assert row["target_runs"] == int((study.history().observations.rung == target).sum()) > 0
    # the default recommends among the mixtures it ran at the target: it has runs there
    assert row["runs_at_recommendation"] >= 1 and np.isfinite(row["luck_in_noise_sd"])

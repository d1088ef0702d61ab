"""The plots a live study leaves: what each one shows, checked on the figure's artists."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from helpers import make_config, score

from admire.app import confirm, study_plots
from admire.app.evaluations import MixtureResult
from admire.app.references import uniform_mixture
from admire.bo.policies.base import Recommendation
from admire.study import Study


@pytest.fixture(scope="module")
def study() -> Study:
    """References (uniform, a user's) completed at the target first, then four policy picks
    and one failed trial."""
    config = make_config(k=3, initial_trials=4, max_trials=20)
    study = Study(config)
    study.attach(uniform_mixture(config), "large", reference="uniform")
    study.attach({"d0": 0.6, "d1": 0.2, "d2": 0.2}, "large", reference="mine")
    for index in study.references().values():
        study.complete(index, *score(study.proposal_of(index).mixture, "large"))
    *picks, failed = study.propose(5)
    for p in picks:
        study.complete(p.trial_index, *score(p.mixture, p.rung))
    study.fail(failed.trial_index, "worker died", cost=1.0)
    return study


REC = Recommendation({"d0": 0.55, "d1": 0.25, "d2": 0.2}, 0.59, 0.57, 0.61, "large", 6,
                     run_lower90=0.55, run_upper90=0.63, interval_scale=1.4)


def labels(ax) -> list[str]:
    return ax.get_legend_handles_labels()[1]


def test_objective_vs_cost_shows_best_so_far_references_and_the_recommendation(study):
    fig = study_plots.objective_vs_cost_figure(study, REC)
    (ax,) = fig.axes
    shown = labels(ax)
    assert "best so far at large (the target)" in shown
    assert any(t.startswith("reference: uniform at large (") for t in shown)
    assert any(t.startswith("reference: mine at large (") for t in shown)
    assert "failed (drawn at the median)" in shown
    (rec_label,) = [t for t in shown if t.startswith("recommended")]
    assert "predicted 0.59" in rec_label and "90% for one new run" in rec_label
    assert "the model's best mean, not the best\nsingle run" in rec_label  # off the step line
    # the error bar spans the new-run interval, not the mean's
    (container,) = [c for c in ax.containers if c.get_label() == rec_label]
    (bars,) = container.lines[2]
    assert np.allclose(bars.get_segments()[0][:, 1], [0.55, 0.63])
    # references are horizontal lines at their target values, labelled with name and value
    values = {name: score(study.proposal_of(i).mixture, "large")[0]["score"]
              for name, i in study.references().items()}
    lines = {line.get_label(): line for line in ax.get_lines()}
    for name, value in values.items():
        ydata = lines[f"reference: {name} at large ({value:.4g})"].get_ydata()
        assert ydata[0] == ydata[-1] == pytest.approx(value)
        assert name in [t.get_text() for t in ax.texts]
    # best so far at the target never gets worse (higher is better here) and ends at the best
    best = lines["best so far at large (the target)"].get_ydata()
    assert np.all(np.diff(best) >= 0)
    column = study.runs[study.runs["rung"] == "large"]["m:score"]
    assert best[-1] == pytest.approx(column.max())
    assert "higher is better" in ax.get_ylabel()
    plt.close(fig)


def test_recommendation_without_a_run_interval_draws_the_means_and_retrained_mixtures(study):
    rec = Recommendation(REC.mixture, 0.59, 0.57, 0.61, "large", 6)
    uniform = study.proposal_of(study.references()["uniform"]).mixture
    own = score(uniform, "large")[0]["score"]  # the study's run of it, with seed 0
    retrained = [MixtureResult("uniform", uniform, "large", {0: own, 1: 0.50, 2: 0.52}),
                 MixtureResult("never run", {"d0": 0.1, "d1": 0.1, "d2": 0.8}, "large",
                               {1: 0.40})]
    fig = study_plots.objective_vs_cost_figure(study, rec, retrained, study_seed=0)
    (ax,) = fig.axes
    shown = labels(ax)
    assert any("90% for the mean" in t for t in shown if t.startswith("recommended"))
    # the study's own run joins the fresh seeds (once: seed 0 retrained is the same run), and
    # the bar is Student t's interval for a new run with any seed over the three
    (label,) = [t for t in shown if t.startswith("retrained: uniform at large")]
    assert "2 fresh seeds and the study's run" in label
    (container,) = [c for c in ax.containers if c.get_label() == label]
    (bars,) = container.lines[2]
    values = [0.50, 0.52, own]
    expected = confirm.run_interval(values)
    assert np.allclose(bars.get_segments()[0][:, 1], expected)
    assert container.lines[0].get_ydata()[0] == pytest.approx(np.mean(values))
    assert any(t.startswith("retrained: never run at large") and "no interval" in t
               for t in shown)
    plt.close(fig)


def test_mixture_plot_states_both_intervals(study, tmp_path):
    fig = study_plots.mixture_figure(REC, "score", study.space)
    title = fig.axes[0].get_title()
    assert "predicted score 0.59" in title
    assert "(90%: mean [0.57, 0.61], one new run [0.55, 0.63])" in title
    plt.close(fig)
    paths = study_plots.write_plots(study, REC, tmp_path)
    assert [p.name for p in paths] == list(study_plots.PLOTS)
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_fidelity_schedule_counts_runs_in_whole_numbers():
    study = Study(make_config(k=3, initial_trials=20, max_trials=20))
    for p in study.propose(20):  # 20 runs: matplotlib alone would tick 2.5, 7.5, ...
        study.complete(p.trial_index, *score(p.mixture, p.rung))
    fig = study_plots.fidelity_schedule_figure(study)
    ax = fig.axes[0]
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)  # never "run 2.5"
    plt.close(fig)

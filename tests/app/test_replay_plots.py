"""Replay outputs a person reads: the regret small multiples and summary.md."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATASET_PARQUET
from typer.testing import CliRunner

from admire.app import replay_plots as report
from admire.app.cli import app


def summary_of(curves: dict[str, list[list[list[float]]]], budget: float = 4.0) -> dict:
    """A replay summary with hand-made (cost, regret) curves per policy."""
    from admire.replay.runner import SeedResult, summarize

    class Problem:
        minimize, best_value, cost_unit = False, 0.6, 12.5

        class recorded:  # noqa: N801 - stands in for the problem's recorded runs
            class ladder:  # noqa: N801
                names = ["s", "m", "l"]

    results = [SeedResult(name, seed, [tuple(p) for p in curve], [1, 0, len(curve) - 1], 0.5)
               for name, seeds in curves.items() for seed, curve in enumerate(seeds)]
    return summarize(results, Problem(), budget, "acc")


CURVES = {
    # mfbo: every seed ends on the best mixture (regret 0)
    "mfbo": [[[0.2, 0.05], [1.0, 0.02], [2.0, 0.0]], [[0.2, 0.04], [1.5, 0.0], [3.0, 0.0]],
             [[0.3, 0.05], [2.5, 0.01], [3.5, 0.0]]],
    "random": [[[1.0, 0.06], [2.0, 0.03], [3.0, 0.03]], [[1.0, 0.05], [2.0, 0.04], [4.0, 0.02]],
               [[1.0, 0.07], [3.0, 0.02], [4.0, 0.02]]],
    "sfbo": [[[1.0, 0.05], [2.0, 0.0], [3.0, 0.0]], [[1.0, 0.06], [3.0, 0.03], [4.0, 0.01]],
             [[1.0, 0.04], [2.0, 0.02], [4.0, 0.0]]],
}


def test_regret_grid_steps_each_seed_and_is_nan_before_its_first_pick():
    grid = np.array([0.0, 0.5, 1.0, 2.5])
    out = report.regret_grid([[[0.5, 0.3], [2.0, 0.1]], []], grid)
    assert np.isnan(out[0, 0]) and out[0, 1] == 0.3 and out[0, 2] == 0.3 and out[0, 3] == 0.1
    assert np.isnan(out[1]).all()


def test_regret_small_multiples_one_panel_per_policy_reaching_zero_on_a_linear_axis():
    summary = summary_of(CURVES)
    fig = report.regret_figure(summary, problem="toy.parquet")
    axes = fig.axes
    panels = [ax for ax in axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["mfbo (reference)", "random", "sfbo"]
    assert len(axes) == 4 and not axes[3].axison  # the spare panel holds the legend
    assert len(axes[3].get_legend().get_texts()) == 3
    for ax in panels:
        assert ax.get_yscale() == "linear"
        assert ax.get_ylim() == panels[0].get_ylim() and ax.get_xlim() == (0.0, 4.0)
        low, high = ax.get_ylim()
        assert low < 0 < high
    median = {ax.get_title().split()[0]: next(line for line in ax.get_lines()
                                              if line.get_label() == "median")
              for ax in panels}
    # Every mfbo seed is at regret 0 from cost 3.5: its median reaches 0 (not a floor)
    assert median["mfbo"].get_ydata()[-1] == 0.0
    assert median["random"].get_ydata()[-1] == pytest.approx(0.02)
    # The reference (admire's default) is drawn faintly in every other panel; in its own
    # panel the next best policy is
    for ax in panels[1:]:
        assert "mfbo median" in [line.get_label() for line in ax.get_lines()]
    assert "sfbo median" in [line.get_label() for line in panels[0].get_lines()]
    title = fig._suptitle.get_text()
    assert "toy.parquet" in title and "acc" in title and "3 seeds" in title
    assert "budget 4" in title and "higher is better" in title
    fig.clf()


def test_regret_plot_without_the_default_policy_takes_the_best_as_reference(tmp_path):
    summary = summary_of({k: v for k, v in CURVES.items() if k != "mfbo"})
    assert report.reference_policy(summary, np.linspace(0, 4, 50)) == "sfbo"
    path = report.plot_regret_vs_cost(summary, tmp_path / "r.png")
    assert path.stat().st_size > 10_000


def test_markdown_table_is_unchanged_for_bench_suite():
    table = report.markdown_table(summary_of(CURVES))
    lines = table.splitlines()
    assert lines[0] == ("| method | cost_to_best | best at end | first_best | regret@1 | regret@3 "
                        "| regret@4 | picks/rung | s/seed |")
    # mfbo reaches 0 at costs 2, 1.5 and 3.5 (median 2); at 1 unit its regrets are
    # 0.02, 0.04 and 0.05 (median 0.04)
    assert lines[2].startswith("| mfbo | 2 | 3/3 | 2 | 0.04 | 0 | 0 |")
    assert lines[3].startswith("| random | never | 0/3 | never |")
    assert report.markdown_table({"methods": {}}) == ""


def test_summary_markdown_has_a_header_the_table_and_a_legend_of_every_column():
    summary = summary_of(CURVES)
    command = report.replay_command_line("my runs.parquet", "acc", minimize=False,
                                         methods="mfbo,random,sfbo", seeds=3, budget=4.0,
                                         out="out/r")
    text = report.summary_markdown(summary, command=command, problem="my runs.parquet")
    assert text.startswith("# Replay on my runs.parquet\n")
    assert "**acc**, maximize (higher is better)" in text and "**0.6**" in text
    assert "budget: 4 target-rung runs" in text and "seeds: 3 per policy (0..2)" in text
    assert ("`admire replay 'my runs.parquet' --objective acc --methods mfbo,random,sfbo "
            "--seeds 3 --budget 4 --out out/r`") in text
    assert report.markdown_table(summary).rstrip() in text
    for column in ("cost_to_best", "best at end", "first_best", "regret@u", "picks/rung",
                   "s/seed"):
        assert f"- **{column}**:" in text
    assert "**never**: not reached in more than half of the seeds" in text
    assert "target-rung runs (one unit = the mean cost of one target-rung run" in text
    assert "(s / m / l)" in text


def test_cli_replay_writes_summary_md_with_its_command(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["replay", str(DATASET_PARQUET), "--objective", "avg_id+ood",
                                      "--methods", "random", "--seeds", "2", "--budget", "1.5",
                                      "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "summary.md").read_text()
    assert text.startswith("# Replay on admire_ift_runs.parquet")
    assert "--methods random --seeds 2 --budget 1.5" in text and "| random |" in text
    assert (out / "regret_vs_cost.png").stat().st_size > 10_000

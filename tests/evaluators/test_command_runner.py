"""Running a command rung's trainer in-process: metrics back, each failure with its log tail."""

from __future__ import annotations

import json

import pytest
from byot_helpers import command, expected, write_trainer

from admire.evaluators.command import CommandFailed, run_command

MIX = {"math": 0.2, "scripture": 0.3, "code": 0.5}


def run(tmp_path, *extra, **spec):
    trainer = write_trainer(tmp_path / "trainer")
    rung = {"command": command(trainer, *extra), **spec}
    return run_command("small", rung, trial=3, seed=7, mixture=MIX, out_dir=tmp_path / "t3",
                       metric="objective")


def test_metrics_come_back_and_cost_is_the_files_or_the_wall_time(tmp_path):
    metrics, cost = run(tmp_path, "--cost 2.5")
    assert metrics == pytest.approx({"objective": expected(MIX)}) and cost == 2.5
    assert json.loads((tmp_path / "t3" / "mixture.json").read_text()) == MIX
    log = (tmp_path / "t3" / "log.txt").read_text()
    assert "seed 7" in log and "step 29" in log
    metrics, cost = run(tmp_path, "--tokens {tokens}", tokens=123)
    assert "tokens 123" in (tmp_path / "t3" / "log.txt").read_text()
    assert 0 < cost < 30 and "cost" not in metrics


@pytest.mark.parametrize(("extra", "spec", "says"), [
    (("--mode exit",), {}, "exited with code 1"),
    (("--mode sleep",), {"timeout_s": 1}, "timed out after 1s"),
    (("--mode nometrics",), {}, "no metrics file"),
    (("--mode ok",), {"metrics_file": "{out_dir}/other.json"}, "no metrics file"),
])
def test_a_failing_trainer_fails_with_the_reason_and_its_log_tail(tmp_path, extra, spec, says):
    with pytest.raises(CommandFailed) as err:
        run(tmp_path, *extra, **spec)
    text = str(err.value)
    assert says in text and str(tmp_path / "t3" / "log.txt") in text
    assert "step 29" in text and "step 5 " not in text  # the last lines only


def test_a_missing_objective_or_a_bad_metrics_file_fails(tmp_path):
    trainer = write_trainer(tmp_path / "trainer")
    spec = {"command": command(trainer)}
    with pytest.raises(CommandFailed, match="objective metric 'loss' missing"):
        run_command("small", spec, trial=0, seed=0, mixture=MIX, out_dir=tmp_path / "a",
                    metric="loss")
    bad = {"command": f"sh -c 'echo [1] > {tmp_path}/b/metrics.json'"}
    with pytest.raises(CommandFailed, match="holds list, not a JSON object"):
        run_command("small", bad, trial=0, seed=0, mixture=MIX, out_dir=tmp_path / "b",
                    metric="objective")
    with pytest.raises(CommandFailed, match="cannot start 'no-such-trainer'"):
        run_command("small", {"command": "no-such-trainer"}, trial=0, seed=0, mixture=MIX,
                    out_dir=tmp_path / "c", metric="objective")

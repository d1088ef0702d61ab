"""``admire check`` reads and maps a config's ``[[warm_start]]`` sources: a bad mapping or a
missing source is one error line naming the field (exit 2), a good one passes."""

from __future__ import annotations

import pandas as pd
from conftest import REPO
from typer.testing import CliRunner

from admire.app.cli import app
from admire.schema import runs

EXAMPLE = REPO / "examples" / "local-cpu.toml"
DOMAINS = ("dialogue", "legal", "math", "code", "scripture", "multilingual")


def earlier_study(tmp_path, domains):
    """Two runs of an earlier study over ``domains`` at the example ladder's cheapest rung."""
    table = pd.DataFrame([{"run_id": f"r{i}", "study": "old", "rung": "tiny-0.1M",
                           "fidelity": 0.05, "cost": 1.0, "m:objective": 3.0 + i,
                           "status": "completed", "seed": 0, "started_at": pd.NaT,
                           "finished_at": pd.NaT,
                           **{f"w:{d}": 1.0 / len(domains) for d in domains}}
                          for i in range(2)])
    path = tmp_path / "old.parquet"
    runs.write_runs(table, path)
    return path


def check(tmp_path, warm_start: str):
    text = EXAMPLE.read_text().replace("../fidelities", str(REPO / "fidelities"))
    path = tmp_path / "study.toml"
    path.write_text(text + "\n[[warm_start]]\n" + warm_start)
    return CliRunner().invoke(app, ["check", str(path)])


def test_a_good_warm_start_passes(tmp_path):
    old = ("dialogue", "legal", "code_and_math", "scripture", "multilingual")
    source = earlier_study(tmp_path, old)
    result = check(tmp_path, f'source = "{source.name}"\n'
                             'split = { code_and_math = { code = 0.5, math = 0.5 } }\n')
    assert result.exit_code == 0, result.output


def test_bad_warm_starts_are_one_error_line_naming_the_field(tmp_path):
    source = earlier_study(tmp_path, (*DOMAINS[:-1], "wiki"))
    result = check(tmp_path, f'source = "{source.name}"\n')
    assert result.exit_code == 2
    assert "warm_start[0].wiki: old domain 'wiki' is mapped nowhere" in result.output
    assert "Traceback" not in result.output
    result = check(tmp_path, 'source = "missing-study"\n')
    assert result.exit_code == 2 and "warm_start[0].source: no study directory" in result.output

"""A stand-in for a team's own trainer, for command-template rungs and ask/tell tests.

``write_trainer(folder)`` writes ``train.py``: it reads the mixture JSON, prints a few log lines
and writes ``metrics.json`` with a smooth function of the weights. ``--mode`` makes it fail the
ways a real trainer does: ``exit`` (exit code 1), ``sleep`` (hangs past any timeout),
``nometrics`` (exits 0 without a metrics file), ``nan`` (a NaN objective).
"""

from __future__ import annotations

import sys
from pathlib import Path

TRAINER = r'''
import json, math, pathlib, sys, time
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
mode = args.get("--mode", "ok")
mixture = json.loads(pathlib.Path(args["--mixture"]).read_text())
for step in range(30):
    print(f"step {step} loss {1.0 / (step + 1):.4f}")
print("mixture", json.dumps(mixture), "tokens", args.get("--tokens"), "seed", args.get("--seed"))
if mode == "exit":
    print("RuntimeError: CUDA out of memory (pretend)", file=sys.stderr)
    sys.exit(1)
if mode == "sleep":
    time.sleep(120)
if mode == "nometrics":
    sys.exit(0)
value = (mixture["math"] - 0.5) ** 2 + (mixture["code"] - 0.3) ** 2 + float(args.get("--offset", 0))
metrics = {"objective": math.nan if mode == "nan" else value, "run_name": "stand-in"}
if "--cost" in args:
    metrics["cost"] = float(args["--cost"])
out = pathlib.Path(args["--out"])
(out / "metrics.json").write_text(json.dumps(metrics))
'''


def expected(mixture: dict[str, float], offset: float = 0.0) -> float:
    return (mixture["math"] - 0.5) ** 2 + (mixture["code"] - 0.3) ** 2 + offset


def write_trainer(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train.py"
    path.write_text(TRAINER, encoding="utf-8")
    return path


def command(trainer: Path, *extra: str) -> str:
    """A rung's command template running ``trainer`` with this Python."""
    return (f"{sys.executable} {trainer} --mixture {{mixture_json}} --out {{out_dir}} "
            f"--seed {{seed}} " + " ".join(extra)).strip()


COMMAND_LADDER = """
name = "byot"

[[rung]]
name = "small"
cost_estimate = 1.0
tokens = 1000
command = "{small}"

[[rung]]
name = "large"
cost_estimate = 4.0
command = "{large}"
"""


def command_study(folder: Path, trainer: Path, *, max_trials: int = 5, budget: float | None = None,
                  max_parallel: int = 2, policy: str = 'name = "kg"\ninitial_trials = 2') -> Path:
    """A study of three domains on a two-rung ladder of command rungs; returns the config."""
    folder.mkdir(parents=True, exist_ok=True)
    small = command(trainer, "--tokens {tokens} --cost 1")
    large = command(trainer, "--offset 0.1 --cost 4")
    (folder / "ladder.toml").write_text(COMMAND_LADDER.format(small=small, large=large),
                                        encoding="utf-8")
    limit = f"budget = {budget}" if budget is not None else f"max_trials = {max_trials}"
    config = folder / "study.toml"
    config.write_text(f"""
[study]
name = "byot"
{limit}
max_parallel = {max_parallel}

[objective]
metric = "objective"
minimize = true

[ladder]
path = "ladder.toml"

[[domain]]
name = "math"
[[domain]]
name = "scripture"
[[domain]]
name = "code"

[policy]
{policy}
""", encoding="utf-8")
    return config

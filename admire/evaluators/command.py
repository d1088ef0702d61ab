"""Run a command-template rung's trainer for one trial and read its metrics back.

The command runs as a subprocess (split with ``shlex``, no shell) in the process that calls
:func:`run_command` (a Ray actor holding the rung's resources), with the trial's own folder
``out_dir``: the mixture is written to ``out_dir/mixture.json`` first, stdout and stderr go to
``out_dir/log.txt``, and the metrics JSON (``{name: number, ...}``, optionally ``cost``) is read
when it exits. A timeout, a non-zero exit, a missing or invalid metrics file or a missing
objective metric raise :class:`CommandFailed` with the reason and the log's last lines.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from admire.schema.command import CommandSpec, command_spec

LOG_FILE = "log.txt"
MIXTURE_FILE = "mixture.json"
TAIL_LINES = 20
KILL_GRACE_S = 5.0


class CommandFailed(RuntimeError):
    """The trainer did not produce usable metrics; ``str()`` is the reason and the log tail."""


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    if not path.exists():
        return ""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return "".join(deque(fh, maxlen=lines)).rstrip()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group (it may have started its own workers), then
    SIGKILL it after a grace period."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
            return


def _numbers(payload: Any, path: Path) -> dict[str, float]:
    if not isinstance(payload, Mapping):
        raise ValueError(f"{path} holds {type(payload).__name__}, not a JSON object of metrics")
    out = {}
    for name, value in payload.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue  # a trainer's notes (run names, paths) are not metrics
        out[str(name)] = float(value)
    return out


def placeholders(spec: CommandSpec, *, trial: int, rung: str, seed: int,
                 mixture: Mapping[str, float], out_dir: Path) -> dict[str, Any]:
    values: dict[str, Any] = {
        "mixture_json": out_dir / MIXTURE_FILE, "mixture": json.dumps(dict(mixture)),
        "rung": rung, "seed": seed, "out_dir": out_dir, "trial": trial}
    if spec.tokens is not None:
        values["tokens"] = spec.tokens
    return values


def run_command(rung: str, rung_spec: Mapping[str, Any], *, trial: int, seed: int,
                mixture: Mapping[str, float], out_dir: str | Path, metric: str | None,
                cwd: str | None = None) -> tuple[dict[str, float], float]:
    """Run the trial's command; ``(metrics, cost)`` (cost: the file's ``cost``, else wall
    seconds) or :class:`CommandFailed`."""
    spec = command_spec(rung, rung_spec)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    values = placeholders(spec, trial=trial, rung=rung, seed=seed, mixture=mixture, out_dir=out)
    (out / MIXTURE_FILE).write_text(json.dumps(dict(mixture), indent=1), encoding="utf-8")
    metrics_path = Path(spec.fill(spec.metrics_file, values))
    if not metrics_path.is_absolute():
        metrics_path = out / metrics_path
    metrics_path.unlink(missing_ok=True)  # a retry must not read the last attempt's file
    log = out / LOG_FILE
    argv = spec.argv(values)

    def failed(reason: str) -> CommandFailed:
        tail = log_tail(log)
        return CommandFailed(f"{reason}; log {log}" + (f", last lines:\n{tail}" if tail else
                                                       " is empty"))

    t0 = time.perf_counter()
    with open(log, "wb") as sink:
        try:
            proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, cwd=cwd,
                                    start_new_session=True, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise CommandFailed(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from None
        try:
            code = proc.wait(timeout=spec.timeout_s)
        except subprocess.TimeoutExpired:
            _stop(proc)
            raise failed(f"timed out after {spec.timeout_s:g}s") from None
        except BaseException:
            _stop(proc)
            raise
    wall = time.perf_counter() - t0
    if code != 0:
        raise failed(f"exited with code {code}")
    try:
        payload = json.loads(metrics_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise failed(f"no metrics file {metrics_path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise failed(f"metrics file {metrics_path} is not valid JSON ({exc})") from None
    try:
        metrics = _numbers(payload, metrics_path)
    except ValueError as exc:
        raise failed(str(exc)) from None
    cost = metrics.pop("cost", wall)
    if metric is not None and metric not in metrics:
        raise failed(f"objective metric {metric!r} missing from {metrics_path} (it has "
                     f"{sorted(metrics)})")
    if not math.isfinite(cost) or cost < 0:
        raise failed(f"cost in {metrics_path} must be a finite number >= 0, got {cost!r}")
    return metrics, cost

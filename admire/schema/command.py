"""Command-template rungs: a rung trained by the team's own trainer, not admire's proxy.

    [[rung]]
    name = "small"
    cost_estimate = 1.0
    tokens = 200_000_000
    command = "torchrun train.py --mixture {mixture_json} --tokens {tokens} --out {out_dir}"
    metrics_file = "{out_dir}/metrics.json"     # the default
    timeout_s = 3600                             # optional

Placeholders: ``{mixture_json}`` (path of a JSON file of the mixture), ``{mixture}`` (the same
JSON inline), ``{rung}``, ``{seed}``, ``{trial}``, ``{out_dir}`` (the trial's own folder under
the study directory) and ``{tokens}`` when the rung defines ``tokens``. The template is checked
when the config loads: an unknown placeholder is a ConfigError naming the rung and the field.
"""

from __future__ import annotations

import math
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from admire.errors import ConfigError

PLACEHOLDERS = ("mixture_json", "mixture", "rung", "seed", "out_dir", "trial", "tokens")
COMMAND_FIELDS = ("command", "metrics_file", "timeout_s", "tokens")
DEFAULT_METRICS_FILE = "{out_dir}/metrics.json"


@dataclass(frozen=True)
class CommandSpec:
    """A rung's command template, validated."""

    command: str
    metrics_file: str = DEFAULT_METRICS_FILE
    timeout_s: float | None = None
    tokens: int | None = None

    def fill(self, template: str, values: Mapping[str, Any]) -> str:
        return template.format_map({k: str(v) for k, v in values.items()})

    def argv(self, values: Mapping[str, Any]) -> list[str]:
        """The command split like a shell would (``shlex``), then each word filled in, so a
        path or an inline JSON with spaces stays one argument; no shell runs it."""
        return [self.fill(word, values) for word in shlex.split(self.command)]


def is_command_rung(spec: Mapping[str, Any]) -> bool:
    return "command" in spec


def _fields(template: str, where: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"not a valid template ({exc}); write a literal brace as {{{{ or }}}}",
                          where=where) from None
    names = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion:
            raise ConfigError(f"placeholder {{{name}}} takes no format or conversion",
                              where=where)
        names.append(name)
    return names


def _check_template(template: Any, allowed: tuple[str, ...], where: str) -> str:
    if not isinstance(template, str) or not template.strip():
        raise ConfigError(f"must be a non-empty string, got {template!r}", where=where)
    for name in _fields(template, where):
        if name not in allowed:
            hint = (" (the rung defines no tokens = N)" if name == "tokens"
                    else "")
            raise ConfigError(f"unknown placeholder {{{name}}}{hint}; allowed: "
                              f"{['{' + a + '}' for a in allowed]}", where=where)
    return template


def command_spec(rung: str, spec: Mapping[str, Any]) -> CommandSpec:
    """The rung's command spec; errors name ``rung 'NAME'.FIELD``."""
    place = f"rung {rung!r}"
    tokens = spec.get("tokens")
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int)
                               or tokens <= 0):
        raise ConfigError(f"must be an integer > 0, got {tokens!r}", where=f"{place}.tokens")
    allowed = tuple(p for p in PLACEHOLDERS if p != "tokens" or tokens is not None)
    command = _check_template(spec.get("command"), allowed, f"{place}.command")
    try:
        shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"cannot be split into words: {exc}", where=f"{place}.command"
                          ) from None
    metrics_file = _check_template(spec.get("metrics_file", DEFAULT_METRICS_FILE), allowed,
                                   f"{place}.metrics_file")
    timeout = spec.get("timeout_s")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                or not math.isfinite(timeout) or timeout <= 0):
        raise ConfigError(f"must be a number of seconds > 0, got {timeout!r}",
                          where=f"{place}.timeout_s")
    for key in ("model", "train"):
        if key in spec:
            raise ConfigError(f"a command rung is trained by its command; drop [{key}] (or "
                              "drop command to train admire's proxy)", where=f"{place}.{key}")
    return CommandSpec(command, metrics_file, None if timeout is None else float(timeout),
                       tokens)

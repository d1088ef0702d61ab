"""Which way a metric is better, from the user's flag or, failing that, from its name.

Reporting the max of a loss as its "best" value is the kind of quiet mistake a reader trusts, so
a command that ranks by a metric takes ``--minimize/--maximize`` and otherwise infers the
direction from the name and says which it used and why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

# Name parts that mean lower is better: losses, bits per byte, perplexity, errors, likelihoods
# given as negative logs.
LOWER_IS_BETTER = ("loss", "bpb", "perplexity", "ppl", "error", "nll")


@dataclass(frozen=True)
class Direction:
    minimize: bool
    reason: str

    @property
    def label(self) -> str:
        return "min" if self.minimize else "max"

    def describe(self, metric: str) -> str:
        better = "lower" if self.minimize else "higher"
        return f"direction for {metric}: {better} is better ({self.reason})"


def lower_is_better_word(metric: str) -> str | None:
    """The part of ``metric``'s name that marks it as lower-is-better, if any."""
    for part in re.split(r"[^a-z0-9]+", metric.lower()):
        for word in LOWER_IS_BETTER:
            # whole parts (``val_loss``, ``errors``), and run-together losses (``valloss``)
            if part in (word, word + "s") or (word == "loss" and part.endswith(word)):
                return word
    return None


def metric_direction(metric: str, minimize: bool | None) -> Direction:
    """The user's choice when given, else inferred from the name (higher is better by default)."""
    if minimize is not None:
        return Direction(minimize, "--minimize" if minimize else "--maximize")
    word = lower_is_better_word(metric)
    if word is not None:
        return Direction(True, f"inferred: the name contains {word!r}; pass --maximize if "
                               "higher is better")
    return Direction(False, "inferred: the name looks like a score, not a loss or error; pass "
                            "--minimize if lower is better")


def study_direction(table: str | Path, metric: str) -> Direction | None:
    """The direction a study folder's own ``study.json`` gives its objective, when ``table``
    is that study's runs table and ``metric`` its objective (a study knows which way its
    objective goes; its name may not say: the built-in proxy's is ``objective``)."""
    saved = Path(table).parent / "study.json"
    try:
        objective = json.loads(saved.read_text(encoding="utf-8"))["config"]["objective"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(objective, dict) or objective.get("metric") != metric:
        return None
    minimize = bool(objective.get("minimize", False))
    return Direction(minimize, f"the study's objective in {saved}")

"""Replay: compare policies offline on a recorded runs table."""

from admire.replay.runner import *  # noqa: F403 - transitional re-export
from admire.replay.runner import _problem_cache, _run_task  # noqa: F401

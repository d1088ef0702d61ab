"""The Study: ask/tell over an Ax experiment, its budget, storage and the one run loop."""

from admire.study.study import Study

__all__ = ["Study"]

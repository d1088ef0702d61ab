"""The Study: ask/tell over an Ax experiment, its budget, storage and the one run loop."""

from admire.study.study import Proposal, Study, StudyRecommendation

__all__ = ["Proposal", "Study", "StudyRecommendation"]

"""Runs of earlier studies, mapped into this study's domains, as extra tasks of the surrogate.

An earlier study measured the same kind of objective on the same ladder, but not necessarily at
the same level: its data, tokenizer or evaluation set may differ a little, so its runs are not
this study's observations. Each (source study, rung) becomes its own task of the ICM
``MultiTaskGP`` (task index ``n_rungs + source * n_rungs + rung``), with its own
:class:`~admire.bo.surrogate.RungScaling` entry: a level shift between studies is absorbed by
the per-task scaling, and how well an old rung predicts this study's target is learned by the
ICM's task covariance, never assumed. Prior runs are never charged to the budget and never
counted as this study's trials.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from admire.bo.history import Observations
from admire.bo.surrogate import TrainingData


@dataclass(frozen=True)
class PriorRuns:
    """Completed runs of earlier studies in this study's space.

    weights (n, K), rung (n,) this study's rung index, y (n,) oriented for maximisation,
    source (n,) index into ``sources``; ``affected`` are the domain indices the latest update
    changed (split or added); ``anchor`` (K,) the latest source's best target-rung mixture (its
    highest rung's, without target runs).
    """

    weights: np.ndarray
    rung: np.ndarray
    y: np.ndarray
    source: np.ndarray
    sources: tuple[str, ...]
    affected: tuple[int, ...]
    anchor: np.ndarray

    @property
    def n(self) -> int:
        return len(self.y)

    def tasks(self, n_rungs: int) -> np.ndarray:
        """The surrogate task of each prior run."""
        return n_rungs + self.source * n_rungs + self.rung

    def training_data(self, obs: Observations, rung_fidelity: tuple[float, ...]
                      ) -> TrainingData:
        """This study's observations followed by the prior runs as their own tasks."""
        n_rungs = len(rung_fidelity)
        fidelity = tuple(rung_fidelity) * (1 + len(self.sources))
        return TrainingData(np.vstack([obs.weights, self.weights]),
                            np.concatenate([obs.rung.astype(int), self.tasks(n_rungs)]),
                            np.concatenate([obs.y, self.y]), fidelity)


def best_anchor(weights: np.ndarray, rung: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The mixture of the best run at the highest rung that has runs (mean over replicates)."""
    top = rung == rung.max()
    w, values = weights[top], y[top]
    keys, inverse = np.unique(np.round(w, 6), axis=0, return_inverse=True)
    means = np.bincount(inverse.reshape(-1), weights=values) / np.bincount(inverse.reshape(-1))
    best = keys[int(np.argmax(means))]
    return best / best.sum()

"""A plain Python function as an evaluator: for notebooks, users' own training code and tests.

The function gets (mixture dict, rung) and returns (metrics dict, cost).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from admire.study import Proposal, Study

EvalFn = Callable[[Mapping[str, float], str], tuple[Mapping[str, float], float]]


def run_study(study: Study, evaluate: EvalFn, *, max_trials: int | None = None,
              budget: float | None = None, batch: int = 1) -> Study:
    """Propose, evaluate, complete until ``max_trials`` or ``budget`` (target-run units).

    A function that raises marks its trial failed with the error as the reason; the study goes
    on. A NaN/inf metric is refused by ``Study.complete`` and the trial is failed likewise.
    """
    from admire.errors import ValidationError

    done = 0
    while (max_trials is None or done < max_trials) and (budget is None
                                                          or study.spent() < budget):
        proposals: list[Proposal] = study.propose(batch)
        for proposal in proposals:
            try:
                metrics, cost = evaluate(proposal.mixture, proposal.rung)
            except Exception as exc:  # noqa: BLE001 - any user error fails only its trial
                study.fail(proposal.trial_index, f"{type(exc).__name__}: {exc}")
            else:
                try:
                    study.complete(proposal.trial_index, metrics, cost)
                except ValidationError as exc:
                    study.fail(proposal.trial_index, str(exc))
            done += 1
    return study

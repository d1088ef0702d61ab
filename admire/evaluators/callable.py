"""A plain Python function as an evaluator: for notebooks, users' own training code and tests.

The function gets (mixture dict, rung) and returns (metrics dict, cost). Evaluations may run in
parallel threads; only the driver thread touches the Study, so completions never race.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from admire.errors import ValidationError
from admire.study import Proposal, Study
from admire.study.ax_bridge import PoolExhausted

EvalFn = Callable[[Mapping[str, float], str], tuple[Mapping[str, float], float]]


def record_result(study: Study, proposal: Proposal, future: Future) -> None:
    """Complete or fail a trial from its finished evaluation.

    A function that raised fails its trial with the error as the reason; a NaN/inf metric is
    refused by ``Study.complete`` and the trial is failed likewise. The study goes on.
    """
    try:
        metrics, cost = future.result()
    except Exception as exc:  # noqa: BLE001 - any user error fails only its trial
        study.fail(proposal.trial_index, f"{type(exc).__name__}: {exc}")
        return
    try:
        study.complete(proposal.trial_index, metrics, cost)
    except ValidationError as exc:
        study.fail(proposal.trial_index, str(exc))


def run_study(study: Study, evaluate: EvalFn, *, max_trials: int | None = None,
              budget: float | None = None, batch: int = 1, max_parallel: int = 1) -> Study:
    """Propose, evaluate, complete until ``max_trials`` trials or ``budget`` (target-run units).

    Up to ``max_parallel`` evaluations run at once (threads); new proposals see the running
    ones as pending. ``batch`` > 1 proposes several trials at a time.
    """
    launched = 0
    running: dict[Future, Proposal] = {}

    def more_allowed() -> bool:
        return ((max_trials is None or launched < max_trials)
                and (budget is None or study.spent() < budget))

    with ThreadPoolExecutor(max_workers=max(max_parallel, batch)) as pool:
        while True:
            while more_allowed() and len(running) < max(max_parallel, batch):
                room = max(max_parallel, batch) - len(running)
                want = min(batch, room, (max_trials - launched) if max_trials else room)
                try:
                    proposals = study.propose(want)
                except PoolExhausted:
                    max_trials = launched
                    break
                for proposal in proposals:
                    running[pool.submit(evaluate, proposal.mixture, proposal.rung)] = proposal
                    launched += 1
            if not running:
                return study
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                record_result(study, running.pop(future), future)

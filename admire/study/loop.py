"""The one loop: propose, evaluate, record, until something says stop.

    reason = run(study, evaluator)                      # live Ray, a function, recorded runs

Every use drives a Study through this function; only the evaluator differs. The loop keeps the
evaluator full (proposals see the trials in flight as pending), never starts a trial the budget
cannot pay for at its expected cost (the proposal is abandoned and the loop stops), records
each outcome (a failure, or a NaN/inf metric, fails only its trial), and reports what happened
through ``on_event`` so a caller can save, redraw or score after every step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ax.core.trial_status import TrialStatus

from admire.errors import ValidationError
from admire.evaluators.base import Evaluator, Outcome, Proposal
from admire.evaluators.callable import CallableEvaluator, EvalFn
from admire.study.study import Study

FAILURE_STREAK = 4  # this many failures in a row (no success between) stops proposing
RERUN_KEY = "admire_rerun_after_restart"
BUDGET_TOL = 1e-9


@dataclass(frozen=True)
class Event:
    """What the loop just did: ``started`` or ``restarted`` a trial, ``recorded`` an outcome
    (``failure`` holds the reason when the trial failed), or ``waited`` on the evaluator."""

    kind: str
    proposal: Proposal | None = None
    outcome: Outcome | None = None
    failure: str | None = None


EventHook = Callable[[Event], None]


def resume_running(study: Study) -> tuple[list[int], list[int]]:
    """Trials left running by a process that died: each is re-run once (returned first), and
    one interrupted twice is failed (returned second)."""
    rerun, failed = [], []
    for index in study.trials_by_status(TrialStatus.RUNNING):
        metadata = study.ax.metadata(index)
        if metadata.get(RERUN_KEY):
            study.fail(index, "interrupted twice: already re-run once after a restart")
            failed.append(index)
        else:
            study.experiment.trials[index].update_run_metadata({RERUN_KEY: True})
            rerun.append(index)
    return rerun, failed


class _Run:
    """The state of one :func:`run` call."""

    def __init__(self, study: Study, evaluator: Evaluator, trials: int | None,
                 first: Sequence[tuple[int, str]], on_event: EventHook) -> None:
        self.study, self.evaluator, self.on_event = study, evaluator, on_event
        self.first = list(first)  # (trial, event kind) to start before any proposal
        self.trials_left = trials
        self.in_flight: dict[int, float] = {}  # trial -> expected cost in target-run units
        self.streak = 0
        self.last_failure = ""

    def stop_reason(self) -> str | None:
        study = self.study
        cap = study.budget.max_trials
        if cap is not None and len(study.experiment.trials) >= cap:
            return f"max_trials reached ({cap})"
        if self.trials_left is not None and self.trials_left <= 0:
            return "trials for this run started"
        if self.streak >= FAILURE_STREAK:
            return f"{self.streak} trials failed in a row; last: {self.last_failure}"
        return None

    def expected(self, proposal: Proposal) -> float:
        raw = self.evaluator.expected_cost(proposal)
        if raw is None:
            return self.study.expected_cost(proposal.rung)
        return self.study.budget.units(raw)

    def fits(self, cost: float) -> bool:
        total = self.study.budget.total
        if total is None:
            return True
        return self.study.spent() + sum(self.in_flight.values()) + cost <= total + BUDGET_TOL

    def dispatch(self, proposal: Proposal, kind: str = "started") -> None:
        self.in_flight[proposal.trial_index] = self.expected(proposal)
        self.evaluator.submit(proposal)
        if self.trials_left is not None and kind == "started":
            self.trials_left -= 1
        self.on_event(Event(kind, proposal))

    def fill(self, batch: int | None) -> str | None:
        """Propose into every free slot; the reason to stop proposing, if any."""
        while self.evaluator.free > 0:
            if self.first:
                index, kind = self.first.pop(0)
                self.dispatch(self.study.proposal_of(index), kind)
                continue
            reason = self.stop_reason()
            if reason:
                return reason
            room = self.evaluator.free
            if self.trials_left is not None:
                room = min(room, self.trials_left)
            cap = self.study.budget.max_trials
            if cap is not None:  # a batch never overshoots max_trials
                room = min(room, cap - len(self.study.experiment.trials))
            proposals = self.study.propose(min(batch or room, room))
            if not proposals:
                return "nothing left to propose"
            for i, proposal in enumerate(proposals):
                if not self.fits(self.expected(proposal)):
                    for rest in proposals[i:]:
                        self.study.abandon(rest.trial_index, "over budget")
                    return f"budget reached ({self.study.budget.total:g} target-run units)"
                self.dispatch(proposal)
        return None

    def record(self, outcome: Outcome) -> None:
        index = outcome.trial_index
        self.in_flight.pop(index, None)
        reason = outcome.error
        if reason is None:
            try:
                self.study.complete(index, outcome.metrics or {}, outcome.cost,
                                    seed=outcome.seed, covariates=outcome.covariates)
            except ValidationError as exc:  # NaN/inf or missing metric: never to the model
                reason = exc.problem
        if reason is not None:
            self.study.fail(index, reason, cost=outcome.cost)
            self.streak += 1
            self.last_failure = reason
        else:
            self.streak = 0
        self.on_event(Event("recorded", self.study.proposal_of(index), outcome, reason))


def run(study: Study, evaluator: Evaluator, *, trials: int | None = None,
        batch: int | None = None, reruns: Sequence[int] = (), attached: Sequence[int] = (),
        on_event: EventHook | None = None, poll_s: float = 0.5) -> str:
    """Run ``study`` with ``evaluator`` until its budget, its ``max_trials``, ``trials`` new
    trials (this call), the candidates, or a streak of failures stops it; wait for the trials
    in flight; return why it stopped.

    ``batch`` caps how many proposals one policy call makes (default: as many as the
    evaluator has free slots); ``reruns`` are trials to start again first (after a restart),
    then the ``attached`` ones (trials added with ``study.attach``, e.g. reference mixtures).
    """
    first = [(i, "restarted") for i in reruns] + [(i, "started") for i in attached]
    state = _Run(study, evaluator, trials, first, on_event or (lambda event: None))
    stop: str | None = None
    while True:
        if stop is None:
            stop = state.fill(batch)
        if not state.in_flight:
            return stop or "nothing left to propose"
        for outcome in evaluator.poll(timeout=poll_s):
            state.record(outcome)
        state.on_event(Event("waited"))


def run_function(study: Study, fn: EvalFn, *, max_parallel: int = 1,
                 trials: int | None = None, batch: int | None = None,
                 on_event: EventHook | None = None) -> str:
    """:func:`run` with a plain function ``fn(mixture, rung) -> (metrics, cost)`` as the
    evaluator, up to ``max_parallel`` calls at once (threads)."""
    with CallableEvaluator(fn, max_parallel) as evaluator:
        return run(study, evaluator, trials=trials, batch=batch, on_event=on_event)

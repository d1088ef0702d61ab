"""The one loop: budget as a hard cap, trial caps, reruns, failure streaks, concurrency."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
from helpers import LADDER, make_config, make_pool, score

from admire.evaluators.base import Outcome, Proposal
from admire.evaluators.callable import CallableEvaluator
from admire.study import Study
from admire.study.loop import FAILURE_STREAK, Event, resume_running, run, run_function


class Recorder:
    """Evaluates with :func:`score` at once, keeping every proposal it was given."""

    def __init__(self, capacity: int = 1) -> None:
        self.capacity = capacity
        self.submitted: list[Proposal] = []
        self._done: list[Outcome] = []

    @property
    def free(self) -> int:
        return self.capacity - len(self._done)

    def submit(self, proposal: Proposal) -> None:
        self.submitted.append(proposal)
        metrics, cost = score(proposal.mixture, proposal.rung)
        self._done.append(Outcome(proposal.trial_index, metrics, cost))

    def poll(self, timeout):
        done, self._done = self._done, []
        return done

    def expected_cost(self, proposal):
        return None


def test_the_budget_is_a_hard_cap_and_the_trial_that_does_not_fit_is_abandoned():
    study = Study(make_config(mode="pool", budget=2.5, initial_trials=1), pool=make_pool(20))
    events: list[Event] = []
    reason = run(study, Recorder(), on_event=events.append)
    assert reason.startswith("budget reached")
    assert study.spent() <= 2.5 + 1e-9
    abandoned = [i for i, t in study.experiment.trials.items() if t.status.is_abandoned]
    assert len(abandoned) == 1  # the proposal that would have gone over
    over = study.proposal_of(abandoned[0])
    assert study.spent() + LADDER.rung(over.rung).cost_estimate / 10.0 > 2.5
    assert sum(e.kind == "recorded" for e in events) == len(study.runs)


def test_trials_and_max_trials_stop_the_loop():
    study = Study(make_config(max_trials=5))
    assert run_function(study, score, trials=3) == "trials for this run started"
    assert len(study.experiment.trials) == 3
    assert run_function(study, score) == "max_trials reached (5)"
    assert len(study.experiment.trials) == 5


def test_a_batch_never_overshoots_max_trials():
    study = Study(make_config(max_trials=5))
    assert run(study, Recorder(capacity=4)) == "max_trials reached (5)"
    assert len(study.experiment.trials) == 5 and len(study.runs) == 5


def test_a_streak_of_failures_stops_proposing_and_errors_fail_only_their_trial():
    calls = {"n": 0}

    def flaky(mixture, rung):
        calls["n"] += 1
        if calls["n"] == 2:
            raise MemoryError("out of memory")
        if calls["n"] == 3:
            return {"score": float("inf"), "other": 0.0}, 1.0
        if calls["n"] >= 5:
            raise RuntimeError("diverged")
        return score(mixture, rung)

    study = Study(make_config(initial_trials=1))
    reason = run_function(study, flaky)
    assert reason.startswith(f"{FAILURE_STREAK} trials failed in a row")
    statuses = study.runs["status"].tolist()
    assert statuses[:4] == ["completed", "failed", "failed", "completed"]
    assert statuses[4:] == ["failed"] * FAILURE_STREAK
    reasons = [t.run_metadata.get("failure_reason", "") for t in study.experiment.trials.values()]
    assert any("MemoryError: out of memory" in r for r in reasons)
    assert any("is inf" in r for r in reasons)


def test_trials_left_running_are_rerun_once_then_failed():
    study = Study(make_config(mode="pool", initial_trials=1), pool=make_pool())
    first, second = study.propose(2)
    rerun, failed = resume_running(study)  # a restart: both were running
    assert rerun == [first.trial_index, second.trial_index] and failed == []
    recorder = Recorder(capacity=1)
    run(study, recorder, reruns=rerun, trials=1)
    assert [p.trial_index for p in recorder.submitted[:2]] == rerun  # re-runs go first
    assert study.n_completed >= 2
    (third,) = study.propose(1)
    assert resume_running(study) == ([third.trial_index], [])
    assert resume_running(study) == ([], [third.trial_index])  # interrupted twice: failed


def test_parallel_completions_lose_nothing():
    lock = threading.Lock()
    calls: list[tuple] = []
    rng = random.Random(0)
    delays = [rng.uniform(0.0, 0.02) for _ in range(1000)]

    def fast(mixture, rung):
        with lock:
            calls.append((*np.round(list(mixture.values()), 12), rung))
            delay = delays[len(calls) % len(delays)]
        time.sleep(delay)  # finish in a shuffled order, several at the same moment
        return score(mixture, rung)

    n = 40
    study = Study(make_config(k=4, initial_trials=8))
    with CallableEvaluator(fast, max_parallel=8) as evaluator:
        run(study, evaluator, trials=n)
    assert len(calls) == n
    assert study.n_completed == n and len(study.runs) == n
    assert study.runs["run_id"].is_unique
    # Every recorded value is exactly the known function of its recorded mixture and rung.
    for _, row in study.runs.iterrows():
        mixture = {d: row[f"w:{d}"] for d in study.space.domains}
        expected, cost = score(mixture, row["rung"])
        assert row["m:score"] == expected["score"] and row["cost"] == cost
    data = study.experiment.lookup_data().df
    objective = data[data["metric_name"] == "score"].set_index("trial_index")["mean"]
    by_trial = {int(r.split("-")[-1]): v for r, v in zip(study.runs["run_id"],
                                                         study.runs["m:score"], strict=True)}
    assert objective.to_dict() == by_trial
    # No (mixture, rung) was proposed twice, even with eight in flight (pending-aware).
    assert len(set(calls)) == n


def test_asking_for_recommendations_between_results_leaves_the_study_unchanged():
    """A notebook user who looks at the answer after every result (as ``admire tune``'s panel
    and the benches do) must get the same study as one who never looks: a recommendation fits
    the model, and later fits warm-start from it."""

    def study_runs(look: bool) -> np.ndarray:
        study = Study(make_config(policy="screen-confirm", budget=4.0, max_trials=None,
                                  initial_trials=3))

        def on_event(event: Event) -> None:
            if look and event.kind == "recorded" and event.failure is None:
                study.recommend(interval=False)

        run_function(study, score, on_event=on_event)
        return study.runs[[f"w:d{i}" for i in range(3)]].to_numpy()

    looked, not_looked = study_runs(True), study_runs(False)
    assert len(looked) >= 6
    np.testing.assert_array_equal(looked, not_looked)

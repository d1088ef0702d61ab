"""A plain Python function as an evaluator: for notebooks, users' own training code and tests.

The function gets (mixture dict, rung name) and returns (metrics dict, cost). Calls run in
threads, up to ``max_parallel`` at once; only the loop's thread touches the Study, so
completions never race. A call that raises fails its trial with the error as the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from admire.evaluators.base import Outcome, Proposal

EvalFn = Callable[[Mapping[str, float], str], tuple[Mapping[str, float], float]]


class CallableEvaluator:
    """Runs ``fn(mixture, rung)`` in a thread pool."""

    def __init__(self, fn: EvalFn, max_parallel: int = 1) -> None:
        self.fn = fn
        self.max_parallel = max_parallel
        self._pool = ThreadPoolExecutor(max_workers=max_parallel)
        self._running: dict[Future, Proposal] = {}

    @property
    def free(self) -> int:
        return self.max_parallel - len(self._running)

    def submit(self, proposal: Proposal) -> None:
        self._running[self._pool.submit(self.fn, proposal.mixture, proposal.rung)] = proposal

    def poll(self, timeout: float | None) -> list[Outcome]:
        if not self._running:
            return []
        finished, _ = wait(self._running, timeout=timeout, return_when=FIRST_COMPLETED)
        return [self._outcome(self._running.pop(f), f) for f in finished]

    @staticmethod
    def _outcome(proposal: Proposal, future: Future) -> Outcome:
        try:
            metrics, cost = future.result()
        except Exception as exc:  # noqa: BLE001 - any user error fails only its trial
            return Outcome(proposal.trial_index, None, 0.0, f"{type(exc).__name__}: {exc}")
        return Outcome(proposal.trial_index, metrics, float(cost))

    def expected_cost(self, proposal: Proposal) -> float | None:
        return None

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> CallableEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


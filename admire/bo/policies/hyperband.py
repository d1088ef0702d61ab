"""Hyperband (Li et al. 2017): brackets of successive halving across the rungs.

A bracket starts ``n`` configurations (mixtures) at one rung, keeps the top ``1/eta`` by
observed value for the next rung, and so on to the target. Brackets cycle through the start
rungs, cheapest first (the most exploratory) to the target (plain random search), as Hyperband
hedges between aggressive and cautious halving. Sizes come from the budget and the ladder's
costs: every bracket gets the budget of the classic most exploratory bracket (``eta**T`` starts
at the cheapest rung, one survivor at the target, ``T`` = rungs - 1), and ``n`` is the largest
that fits it or what is left of the study budget; the study stops at the first bracket that
cannot fit one configuration. A one-rung ladder is random search.

Stateless: the brackets are rebuilt from the history on every call. Configurations come in one
seeded order (pool: a permutation of the pool's mixtures, those with rows at every rung from the
start up first; continuous: a scrambled Sobol sequence), and a bracket takes the next ones in
that order, so its members are the configurations first run at its start rung that follow the
previous bracket's. A study rebuilt from storage therefore makes the same next proposal. Trials
not made by this policy (a user's own, another policy's before a switch) are never proposed
again; one may end a bracket's start set early.

When a bracket waits for results it cannot promote without, the next bracket starts (with the
waiting one's promotions reserved from the budget); if none can, nothing is proposed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from admire.bo.history import History
from admire.bo.policies.base import Candidate, Policy, Recommendation, propose_sequentially
from admire.bo.policies.options import HyperbandOptions
from admire.space import mixture_key, mixture_keys_array

NEVER = 1 << 30  # entry rung of a configuration never run
CONTINUOUS_CHUNK = 64  # continuous configurations are drawn in multiples of this


@dataclass
class _State:
    """What the history says about each (configuration key, rung)."""

    used: frozenset[tuple]
    pending: set[tuple]
    value: dict[tuple, float]
    cost: dict[tuple, float]
    total: float  # the study budget (inf: none)
    remaining: float  # budget left after everything spent and in flight
    rung_cost: np.ndarray
    reserved: float = 0.0  # promotions still owed by brackets waiting on results
    consumed: set[int] = field(default_factory=set)


class Hyperband(Policy):
    """Successive halving in brackets across the ladder; recommends the best target run."""

    name = "hyperband"
    options_model = HyperbandOptions
    options: HyperbandOptions

    # --- configurations ------------------------------------------------------------------------

    def _pool_configs(self) -> tuple[np.ndarray, list[dict[int, int]], np.ndarray]:
        """Pool mixtures (M, K), their first row per rung, and the seeded order."""
        if not hasattr(self, "_pool_cache"):
            pool = self.pool
            m = int(pool.mixture_id.max()) + 1
            weights = np.zeros((m, self.context.space.k))
            rows: list[dict[int, int]] = [{} for _ in range(m)]
            for row in range(len(pool)):
                mix, rung = int(pool.mixture_id[row]), int(pool.rung[row])
                weights[mix] = pool.weights[row]
                rows[mix].setdefault(rung, row)
            order = np.random.default_rng(self.context.seed_for("hyperband-order")).permutation(m)
            first = int(pool.mixture_id[self.first_row(pool.rows_at(0))]) \
                if len(pool.rows_at(0)) else -1
            order = np.array(sorted(order, key=lambda c: c != first), dtype=int)
            self._pool_cache = (weights, rows, order)
        return self._pool_cache

    def _configs(self, count: int) -> tuple[np.ndarray, list[dict[int, int]] | None, np.ndarray]:
        """(weights, pool rows or None, order) with at least ``count`` configurations in
        continuous mode (a Sobol prefix: drawing more keeps the first ones)."""
        if self.context.pool is not None:
            return self._pool_configs()
        n = CONTINUOUS_CHUNK * max(1, -(-count // CONTINUOUS_CHUNK))
        if getattr(self, "_sobol", np.zeros((0, 0))).shape[0] < n:
            self._sobol = self.context.space.sobol(n, seed=self.context.seed_for("hyperband"))
        return self._sobol[:n], None, np.arange(n)

    # --- sizes ---------------------------------------------------------------------------------

    def counts(self, start: int, n: int) -> list[int]:
        """Configurations per stage of a bracket of ``n`` starting at rung ``start``."""
        out = [n]
        for _ in range(start, self.context.target):
            out.append(max(1, out[-1] // self.options.eta))
        return out

    def bracket_cost(self, start: int, n: int, rung_cost: np.ndarray) -> float:
        return float(sum(k * rung_cost[start + j] for j, k in enumerate(self.counts(start, n))))

    def bracket_budget(self, rung_cost: np.ndarray) -> float:
        """The classic most exploratory bracket: eta**T starts at the cheapest rung."""
        return self.bracket_cost(0, self.options.eta ** self.context.target, rung_cost)

    def size(self, start: int, budget: float, cap: int, rung_cost: np.ndarray) -> int:
        """The largest n <= cap whose bracket fits ``budget`` (0: not even one)."""
        if np.isfinite(budget):
            cap = min(cap, int(budget / rung_cost[start]) + 1)
        n = 0
        while n < cap and self.bracket_cost(start, n + 1, rung_cost) <= budget + 1e-9:
            n += 1
        return n

    def first_start(self, state: _State) -> int:
        """The first bracket starts at the cheapest rung whose one-configuration bracket fits
        the study budget (a budget too small for the full ladder still runs something); the
        next ones move up one rung each, cycling."""
        for r in range(self.context.target + 1):
            if self.bracket_cost(r, 1, state.rung_cost) <= state.total + 1e-9:
                return r
        return 0

    # --- proposals -----------------------------------------------------------------------------

    def propose(self, history: History, n: int) -> list[Candidate]:
        return propose_sequentially(history, n, self.next)

    def _state(self, history: History) -> _State:
        obs = history.observations
        value: dict[tuple, list[float]] = {}
        cost: dict[tuple, float] = {}
        for key, rung, y, c in zip(map(tuple, mixture_keys_array(obs.weights).tolist()),
                                   obs.rung.tolist(), obs.y.tolist(), obs.cost.tolist(),
                                   strict=True):
            value.setdefault((key, rung), []).append(y)
            cost[(key, rung)] = cost.get((key, rung), 0.0) + c
        rung_cost = history.budget.rung_cost
        committed = float(rung_cost[history.pending_rung].sum())
        total = np.inf if history.budget.total is None else history.budget.total
        remaining = total - history.budget.spent - committed
        pending = {(mixture_key(w), int(r)) for w, r in zip(history.pending_weights,
                                                           history.pending_rung, strict=True)}
        return _State(history.used_points, pending,
                      {k: float(np.mean(v)) for k, v in value.items()}, cost, total, remaining,
                      rung_cost)

    def next(self, history: History) -> Candidate | None:
        state = self._state(history)
        count = len(history.used_points) + CONTINUOUS_CHUNK
        while True:
            weights, rows, order = self._configs(count)
            keys = [tuple(k) for k in mixture_keys_array(weights).tolist()]
            result = self._walk(state, weights, keys, rows, order)
            if result != "more" or rows is not None:
                return result if isinstance(result, Candidate) else None
            count = 2 * len(order)  # continuous mode ran out of fresh configurations

    def _walk(self, state: _State, weights: np.ndarray, keys: list[tuple],
              rows: list[dict[int, int]] | None, order: np.ndarray) -> Candidate | str | None:
        """Rebuild the brackets in order; the first proposable configuration, or None, or
        "more" (continuous mode needs more configurations).

        A bracket starting at rung ``r`` owns the configurations first run at ``r`` that follow
        one another in its line (after any already run elsewhere at its head: those are not
        any bracket's, and are skipped). It takes more only while the next one in its line was
        never run, so once a later bracket has started its start set is fixed.
        """
        target, n_rungs = self.context.target, self.context.target + 1
        entry = np.full(len(keys), NEVER)
        for c, key in enumerate(keys):
            for r in range(n_rungs):
                if (key, r) in state.used:
                    entry[c] = r
                    break
        state.consumed, state.reserved = set(), 0.0
        cap_budget = self.bracket_budget(state.rung_cost)

        def split(r: int) -> tuple[list[int], list[int], list[int]]:
            """(head run elsewhere, the bracket's members, the rest) of rung r's line."""
            line = self._line(r, order, rows, state.consumed)
            lead = next((i for i, c in enumerate(line) if entry[c] in (r, NEVER)), len(line))
            end = next((i for i in range(lead, len(line)) if entry[line[i]] != r), len(line))
            return line[:lead], line[lead:end], line[end:]

        start = self.first_start(state)
        while True:
            head, members, rest = split(start)
            available = state.remaining - state.reserved
            if not members:  # the next bracket: started if one fits
                if self.size(start, min(cap_budget, available), self._cap(rest, entry, rows),
                             state.rung_cost):
                    return self._candidate(weights, rows, rest[0], start) if rest else "more"
                return None
            own = sum(state.cost.get((keys[c], r), 0.0) + state.rung_cost[r] * (
                (keys[c], r) in state.pending) for c in members for r in range(start, n_rungs))
            planned = self.size(start, min(cap_budget, available + own),
                                len(members) + self._cap(rest, entry, rows), state.rung_cost)
            promoted = start < target and any((keys[c], start + 1) in state.used
                                              for c in members)
            if len(members) < planned and not promoted:
                if rest and entry[rest[0]] == NEVER:
                    return self._candidate(weights, rows, rest[0], start)
                if not rest and rows is None:
                    return "more"
            pick = self._stages(state, weights, keys, rows, start, members)
            if pick is not None:
                return pick
            state.consumed |= set(head) | set(members)
            start = (start + 1) % n_rungs

    @staticmethod
    def _cap(rest: list[int], entry: np.ndarray, rows: list[dict[int, int]] | None) -> int:
        """How many more configurations a bracket may take: the never-run ones at the head of
        the rest of its line in a pool; unbounded in continuous mode (more are drawn)."""
        if rows is None:
            return NEVER
        return next((i for i, c in enumerate(rest) if entry[c] != NEVER), len(rest))

    def _line(self, rung: int, order: np.ndarray, rows: list[dict[int, int]] | None,
              consumed: set[int]) -> list[int]:
        """Configurations a bracket starting at ``rung`` draws from, in order: not taken by an
        earlier bracket, with a row at ``rung`` (pool), those with rows up to the target
        first."""
        line = [int(c) for c in order if int(c) not in consumed]
        if rows is None:
            return line
        line = [c for c in line if rung in rows[c]]
        complete = set(range(rung, self.context.target + 1))
        return sorted(line, key=lambda c: not complete <= rows[c].keys())

    def _stages(self, state: _State, weights: np.ndarray, keys: list[tuple],
                rows: list[dict[int, int]] | None, start: int,
                members: list[int]) -> Candidate | None:
        """The next run of a bracket whose start set is fixed: a member of the current stage
        not yet run, else None (done, or waiting: then its later stages are reserved)."""
        counts = self.counts(start, len(members))
        stage = members
        for j, rung in enumerate(range(start, self.context.target + 1)):
            for c in stage:
                if (keys[c], rung) not in state.used:
                    return self._candidate(weights, rows, c, rung)
            if any((keys[c], rung) in state.pending for c in stage):
                state.reserved += sum(k * state.rung_cost[start + i]
                                      for i, k in enumerate(counts) if i > j)
                return None
            if rung == self.context.target:
                return None
            stage = self.promote(stage, [state.value.get((keys[c], rung)) for c in stage],
                                 counts[j + 1], [rows is None or rung + 1 in rows[c]
                                                 for c in stage])
            if not stage:
                return None
        return None

    @staticmethod
    def promote(members: list[int], values: list[float | None], k: int,
                promotable: list[bool]) -> list[int]:
        """The top ``k`` members by observed value (ties: the earlier member) among those that
        finished and can run at the next rung; a member that cannot is skipped for the next
        best."""
        ranked = sorted((i for i, v in enumerate(values) if v is not None and promotable[i]),
                        key=lambda i: (-values[i], i))  # type: ignore[operator]
        return [members[i] for i in ranked[:k]]

    def _candidate(self, weights: np.ndarray, rows: list[dict[int, int]] | None, config: int,
                   rung: int) -> Candidate:
        if rows is None:
            return Candidate(weights[config], rung)
        return self.candidate_at(rows[config][rung])

    # --- recommendation ------------------------------------------------------------------------

    def recommend(self, history: History, *, interval: bool = True) -> Recommendation:
        """The best target run; before any, the best run at the highest rung reached (in a
        pool, preferring mixtures that have a target row)."""
        obs = history.observations
        top = int(obs.rung.max())
        at = obs.at(top)
        keep = np.ones(at.n, dtype=bool)
        if self.context.pool is not None and top < self.context.target:
            targets = {mixture_key(w) for w in self.pool.mixtures_at(self.context.target)}
            keep = np.array([mixture_key(w) in targets for w in at.weights])
            keep = keep if keep.any() else np.ones(at.n, dtype=bool)
        i = int(np.flatnonzero(keep)[np.argmax(at.y[keep])])
        return self.recommendation(at.weights[i], float(at.y[i]), None, history, "observed")

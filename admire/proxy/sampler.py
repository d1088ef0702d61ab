"""Turn a mixture (weights over domains) and a token budget into exact, seeded training sequences.

Two guarantees the optimiser relies on:

* **Exact counts.** Domain ``i`` contributes exactly ``round(w_i * T)`` tokens, with
  largest-remainder rounding so the counts sum to ``T``: two mixtures that differ only slightly
  never train on a different total.
* **Repetition limits** (Olmix-style). A mixture that would repeat a domain more than its
  ``max_epochs`` is refused *before* any training, and :func:`weight_upper_bounds` gives the
  optimiser the matching box constraint ``w_i <= max_epochs_i * available_i / T``.

Sequences are drawn lazily (a plan of ``(domain, start)`` windows), so a GPU rung with billions
of tokens never materialises its whole stream, and streams may be memory maps of any size: a
trial reads (and pages in) only its own windows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from admire.errors import ValidationError

WEIGHT_TOLERANCE = 1e-6


class RepetitionLimitError(ValidationError):
    """The mixture would repeat a domain beyond its ``max_epochs``; raised before training."""


def validate_weights(weights: Mapping[str, float], domains: Sequence[str],
                     tol: float = WEIGHT_TOLERANCE, where: str = "weights") -> dict[str, float]:
    """Check a mixture against the known domains; never renormalise beyond ``tol``.

    Domains missing from ``weights`` get weight 0 (held out). Returns weights for every domain.
    """
    unknown = sorted(set(weights) - set(domains))
    if unknown:
        raise ValidationError(f"unknown domains {unknown}; known: {list(domains)}", where=where)
    out: dict[str, float] = {}
    for d in domains:
        w = weights.get(d, 0.0)
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise ValidationError(f"weight must be a finite number >= 0, got {w!r}",
                                  where=f"{where}[{d!r}]")
        out[d] = float(w)
    total = math.fsum(out.values())
    if abs(total - 1.0) > tol:
        raise ValidationError(f"weights sum to {total:.9g}, off by {total - 1.0:+.3g} "
                              f"(tolerance {tol:g})", where=where)
    return out


def largest_remainder(weights: Mapping[str, float], total: int) -> dict[str, int]:
    """Integer counts that sum to exactly ``total``, each the floor or ceiling of its quota.

    Quotas are ``w_i / sum(w) * total`` (the sum is 1 within tolerance after validation); the
    leftover units go to the largest fractional parts, ties broken by domain order.
    """
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise ValidationError(f"token total must be an integer >= 0, got {total!r}",
                              where="tokens")
    names = list(weights)
    s = math.fsum(weights.values())
    if not names or s <= 0:
        raise ValidationError("weights must have a positive sum", where="weights")
    quotas = [weights[n] / s * total for n in names]
    counts = [math.floor(q) for q in quotas]
    leftover = total - sum(counts)
    order = sorted(range(len(names)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[:leftover]:
        counts[i] += 1
    return dict(zip(names, counts, strict=True))


def _limits(domains: Sequence[str], max_epochs: Mapping[str, float | None] | None,
            where: str = "max_epochs") -> dict[str, float]:
    limits = {d: math.inf for d in domains}
    for d, v in (max_epochs or {}).items():
        if d not in limits:
            raise ValidationError(f"unknown domain; known: {list(domains)}",
                                  where=f"{where}[{d!r}]")
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v) or v <= 0:
            raise ValidationError(f"must be a number > 0 (or omitted for unlimited), got {v!r}",
                                  where=f"{where}[{d!r}]")
        limits[d] = float(v)
    return limits


def weight_upper_bounds(available: Mapping[str, int], total_tokens: int,
                        max_epochs: Mapping[str, float | None] | None = None) -> dict[str, float]:
    """Per-domain upper bound on the weight: ``min(1, max_epochs_i * available_i / T)``.

    Pure: give these to the search space. Every mixture within them passes :func:`plan_mixture`
    (rounding may add one token beyond the limit, which the check allows). If the bounds sum to
    less than 1 no mixture is feasible: add data or raise ``max_epochs``.
    """
    if total_tokens <= 0:
        raise ValidationError(f"must be > 0, got {total_tokens}", where="tokens")
    limits = _limits(list(available), max_epochs)
    return {d: min(1.0, limits[d] * available[d] / total_tokens) for d in available}


@dataclass(frozen=True)
class MixturePlan:
    """How many tokens each domain contributes, and how many epochs of it that is."""

    total_tokens: int
    seq_len: int
    counts: dict[str, int]
    available: dict[str, int]

    @property
    def epochs(self) -> dict[str, float]:
        """Tokens drawn / train tokens available, per domain (0 for unused domains)."""
        return {d: (c / self.available[d] if self.available[d] else 0.0)
                for d, c in self.counts.items()}


def plan_mixture(weights: Mapping[str, float], available: Mapping[str, int], total_tokens: int,
                 seq_len: int, max_epochs: Mapping[str, float | None] | None = None,
                 tol: float = WEIGHT_TOLERANCE) -> MixturePlan:
    """Validate a mixture and fix its per-domain token counts; refuse repetition beyond limits.

    Raises :class:`RepetitionLimitError` naming every offending domain, its epochs and the
    largest weight that would be accepted, so nothing is trained on a refused mixture.
    """
    if not isinstance(seq_len, int) or seq_len < 2:
        raise ValidationError(f"must be an integer >= 2, got {seq_len!r}", where="seq_len")
    if not isinstance(total_tokens, int) or total_tokens <= 0 or total_tokens % seq_len:
        raise ValidationError(f"must be a positive multiple of seq_len={seq_len}, "
                              f"got {total_tokens!r}", where="tokens")
    names = list(available)
    w = validate_weights(weights, names, tol=tol)
    counts = largest_remainder(w, total_tokens)
    limits = _limits(names, max_epochs)
    problems = []
    for d in names:
        if counts[d] == 0:
            continue
        if available[d] < seq_len:
            problems.append(f"{d!r} has only {available[d]} train tokens, fewer than "
                            f"seq_len={seq_len}")
        elif math.isfinite(limits[d]) and counts[d] > math.ceil(limits[d] * available[d]):
            bound = limits[d] * available[d] / total_tokens
            problems.append(f"{d!r} would be repeated {counts[d] / available[d]:.3g} epochs "
                            f"({counts[d]} of {available[d]} tokens) but max_epochs is "
                            f"{limits[d]:g}; keep its weight <= {bound:.4g} or add data")
    if problems:
        raise RepetitionLimitError("mixture refused before training: " + "; ".join(problems),
                                   where="weights")
    return MixturePlan(total_tokens, seq_len, counts, {d: int(available[d]) for d in names})


Piece = tuple[int, int, int]  # (domain index, start, length)


@dataclass
class MixtureSample:
    """A shuffled list of ``seq_len`` windows; pure windows come from one domain, the few mixed
    ones pack each domain's remainder (fewer than ``seq_len`` tokens) so counts stay exact."""

    plan: MixturePlan
    streams: list[np.ndarray] = field(repr=False)
    names: list[str]
    seq_domain: np.ndarray = field(repr=False)  # domain index, or -1 for a mixed sequence
    seq_start: np.ndarray = field(repr=False)  # start in the stream, or index into ``mixed``
    mixed: list[list[Piece]] = field(repr=False)

    @property
    def n_sequences(self) -> int:
        return int(self.seq_domain.size)

    def sequence(self, k: int) -> np.ndarray:
        """Token ids of sequence ``k`` (int64, length ``seq_len``)."""
        d, s, L = int(self.seq_domain[k]), int(self.seq_start[k]), self.plan.seq_len
        if d >= 0:
            return self.streams[d][s:s + L].astype(np.int64)
        return np.concatenate([self.streams[i][a:a + n] for i, a, n in self.mixed[s]]
                              ).astype(np.int64)

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Consecutive ``[batch_size, seq_len]`` int64 arrays; the last may be smaller."""
        for lo in range(0, self.n_sequences, batch_size):
            hi = min(lo + batch_size, self.n_sequences)
            yield np.stack([self.sequence(k) for k in range(lo, hi)])

    def tokens_by_domain(self) -> dict[str, int]:
        """Recount tokens per domain from the windows (a check on the plan's counts)."""
        counts = np.bincount(self.seq_domain[self.seq_domain >= 0], minlength=len(self.names))
        out = {n: int(c) * self.plan.seq_len for n, c in zip(self.names, counts, strict=True)}
        for pieces in self.mixed:
            for i, _, n in pieces:
                out[self.names[i]] += n
        return out


# A whole-epoch permutation costs 8 bytes per window. Up to this many windows it is what earlier
# versions drew, so studies on small domains keep their exact samples; above, only the windows a
# trial needs are drawn (Floyd's algorithm inside ``Generator.choice``), whatever the domain size.
FULL_PERMUTATION_WINDOWS = 1 << 20


def _window_starts(n_avail: int, seq_len: int, needed: int, rng: np.random.Generator
                   ) -> np.ndarray:
    """``needed`` window starts: each epoch a random offset, then a shuffled tiling of the stream.

    Windows within an epoch never overlap, so no token repeats before the stream is exhausted.
    Memory is O(needed), not O(stream), for streams of more than ``FULL_PERMUTATION_WINDOWS``.
    """
    per_epoch = n_avail // seq_len
    if per_epoch == 0 and needed > 0:
        raise ValidationError(f"stream of {n_avail} tokens is shorter than seq_len={seq_len}",
                              where="streams")
    slack = n_avail - per_epoch * seq_len
    out: list[np.ndarray] = []
    have = 0
    while have < needed:
        offset = int(rng.integers(0, slack + 1))
        take = min(per_epoch, needed - have)
        if per_epoch <= FULL_PERMUTATION_WINDOWS or take == per_epoch:
            tiles = rng.permutation(per_epoch)[:take]
        else:
            tiles = rng.choice(per_epoch, size=take, replace=False)
        out.append(offset + seq_len * tiles)
        have += take
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def sample_mixture(streams: Mapping[str, np.ndarray], plan: MixturePlan, seed: int
                   ) -> MixtureSample:
    """Draw the plan's exact per-domain counts as shuffled ``seq_len`` windows, seeded.

    ``streams`` may be memory maps: they are kept as given (never copied), and a sequence reads
    only its own window.
    """
    names = list(plan.counts)
    missing = [n for n in names if n not in streams]
    if missing:
        raise ValidationError(f"no token stream for domains {missing}", where="streams")
    L = plan.seq_len
    rng = np.random.default_rng([seed, 0x5A3])
    dom_parts: list[np.ndarray] = []
    start_parts: list[np.ndarray] = []
    remainders: list[Piece] = []
    for i, name in enumerate(names):
        count = plan.counts[name]
        if count == 0:
            continue
        n_avail = int(streams[name].size)
        if n_avail != plan.available[name]:
            raise ValidationError(f"stream has {n_avail} tokens but the plan expects "
                                  f"{plan.available[name]}", where=f"streams[{name!r}]")
        n_full, rest = divmod(count, L)
        starts = _window_starts(n_avail, L, n_full + (1 if rest else 0), rng)
        dom_parts.append(np.full(n_full, i, dtype=np.int64))
        start_parts.append(starts[:n_full].astype(np.int64))
        if rest:
            remainders.append((i, int(starts[n_full]), rest))
    mixed = _pack(remainders, L)
    seq_domain = np.concatenate(dom_parts + [np.full(len(mixed), -1, dtype=np.int64)])
    seq_start = np.concatenate(start_parts + [np.arange(len(mixed), dtype=np.int64)])
    order = rng.permutation(seq_domain.size)
    return MixtureSample(plan, [streams[n] for n in names], names,
                         seq_domain[order], seq_start[order], mixed)


def _pack(pieces: Sequence[Piece], seq_len: int) -> list[list[Piece]]:
    """Pack remainder pieces (each shorter than ``seq_len``) into full sequences, splitting at
    sequence boundaries; their total is a multiple of ``seq_len`` because ``T`` is."""
    out: list[list[Piece]] = []
    current: list[Piece] = []
    room = seq_len
    for dom, start, n in pieces:
        while n > 0:
            take = min(n, room)
            current.append((dom, start, take))
            start, n, room = start + take, n - take, room - take
            if room == 0:
                out.append(current)
                current, room = [], seq_len
    if current:  # only reachable if T is not a multiple of seq_len, which plan_mixture forbids
        raise ValidationError("token total is not a multiple of seq_len", where="tokens")
    return out

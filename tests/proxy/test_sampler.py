"""Mixture sampling: exact largest-remainder counts, seeded windows, repetition limits."""

from __future__ import annotations

import hashlib
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admire.errors import ValidationError
from admire.proxy.sampler import (
    RepetitionLimitError,
    largest_remainder,
    plan_mixture,
    sample_mixture,
    validate_weights,
    weight_upper_bounds,
)

SEQ = 16


def _streams(sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """Each domain's tokens are unique and live in their own value range, so any drawn token
    tells which domain and which position it came from."""
    return {name: (np.arange(n, dtype=np.int64) + 1_000_000 * i)
            for i, (name, n) in enumerate(sizes.items())}


def _domain_of(tokens: np.ndarray, names: list[str]) -> dict[str, int]:
    idx = np.bincount(tokens // 1_000_000, minlength=len(names))
    return {n: int(c) for n, c in zip(names, idx, strict=True)}


@settings(max_examples=300, deadline=None)
@given(raw=st.lists(st.floats(min_value=0.0, max_value=1e3, allow_nan=False), min_size=1,
                    max_size=12).filter(lambda xs: sum(xs) > 1e-9),
       total=st.integers(min_value=0, max_value=10**9))
def test_largest_remainder_sums_exactly_and_rounds_each_quota(raw: list[float], total: int):
    s = math.fsum(raw)
    weights = {f"d{i}": x / s for i, x in enumerate(raw)}
    counts = largest_remainder(weights, total)
    assert sum(counts.values()) == total
    wsum = math.fsum(weights.values())
    for name, w in weights.items():
        quota = w / wsum * total
        assert math.floor(quota) <= counts[name] <= math.ceil(quota)
        assert abs(counts[name] - w * total) <= 1 + 1e-9 * total


def test_largest_remainder_gives_leftover_to_largest_fractions():
    assert largest_remainder({"a": 0.5, "b": 0.3, "c": 0.2}, 7) == {"a": 4, "b": 2, "c": 1}
    # 3.33.. each: one leftover unit, tie broken by order
    assert largest_remainder({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, 10) == {"a": 4, "b": 3, "c": 3}


def test_sample_draws_exact_counts_as_materialised_tokens():
    sizes = {"a": 5_000, "b": 3_001, "c": 777}
    streams = _streams(sizes)
    total = SEQ * 300
    plan = plan_mixture({"a": 0.55, "b": 0.3, "c": 0.15}, sizes, total, SEQ)
    sample = sample_mixture(streams, plan, seed=3)
    tokens = np.concatenate(list(sample.batches(7)))
    assert tokens.shape == (300, SEQ)
    drawn = _domain_of(tokens.ravel(), list(sizes))
    assert drawn == plan.counts == sample.tokens_by_domain()
    assert sum(drawn.values()) == total
    assert drawn == largest_remainder({"a": 0.55, "b": 0.3, "c": 0.15}, total)


def test_draws_from_small_streams_are_the_ones_main_drew():
    """Studies on small domains keep their exact batches (hash computed on main, 18643de)."""
    sizes = {"a": 5_000, "b": 3_001, "c": 20_000}
    plan = plan_mixture({"a": 0.5, "b": 0.2, "c": 0.3}, sizes, SEQ * 1_500, SEQ)
    tokens = np.concatenate(list(sample_mixture(_streams(sizes), plan, seed=7).batches(64)))
    assert hashlib.sha256(tokens.tobytes()).hexdigest()[:16] == "379a08099afb7310"


def test_huge_streams_cost_memory_for_the_drawn_windows_only():
    n = 10**10  # tokens: 625M windows of SEQ; a full permutation would take 5 GB
    huge = np.broadcast_to(np.uint16(7), (n,))  # a stream of any size that takes no memory
    small = np.arange(50_000, dtype=np.int64)
    plan = plan_mixture({"huge": 0.75, "small": 0.25}, {"huge": n, "small": small.size},
                        SEQ * 4_000, SEQ)
    tracemalloc.start()
    sample = sample_mixture({"huge": huge, "small": small}, plan, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2e6, peak
    assert sample.streams[0] is huge and sample.streams[1] is small  # never copied
    starts = sample.seq_start[sample.seq_domain == 0]
    assert starts.size == 3_000 and np.unique(starts).size == 3_000
    assert np.all((starts % SEQ) == (starts[0] % SEQ)) and starts.max() <= n - SEQ
    assert sample.tokens_by_domain() == plan.counts
    assert sample.sequence(int(np.flatnonzero(sample.seq_domain == 0)[0])).tolist() == [7] * SEQ


def test_sample_is_seeded_and_seed_matters():
    sizes = {"a": 4_000, "b": 4_000}
    plan = plan_mixture({"a": 0.25, "b": 0.75}, sizes, SEQ * 100, SEQ)
    one = np.concatenate(list(sample_mixture(_streams(sizes), plan, seed=0).batches(8)))
    two = np.concatenate(list(sample_mixture(_streams(sizes), plan, seed=0).batches(8)))
    other = np.concatenate(list(sample_mixture(_streams(sizes), plan, seed=1).batches(8)))
    assert np.array_equal(one, two)
    assert not np.array_equal(one, other)


def test_no_token_repeats_within_one_epoch_and_windows_are_contiguous():
    sizes = {"a": 2_000, "b": 1_000}
    plan = plan_mixture({"a": 0.5, "b": 0.5}, sizes, SEQ * 100, SEQ)  # 0.8 and 0.8 epochs
    sample = sample_mixture(_streams(sizes), plan, seed=5)
    tokens = np.concatenate(list(sample.batches(10))).ravel()
    assert np.unique(tokens).size == tokens.size
    for k in range(sample.n_sequences):
        if sample.seq_domain[k] >= 0:  # a pure window is a contiguous slice of one stream
            seq = sample.sequence(k)
            assert np.all(np.diff(seq) == 1)


def test_epochs_are_tracked_and_repetition_beyond_one_epoch_works_when_allowed():
    sizes = {"a": 1_000, "b": 10_000}
    plan = plan_mixture({"a": 0.5, "b": 0.5}, sizes, SEQ * 250, SEQ, max_epochs={"a": 2.5})
    assert plan.epochs == {"a": 2.0, "b": 0.2}
    sample = sample_mixture(_streams(sizes), plan, seed=0)
    tokens = np.concatenate(list(sample.batches(32))).ravel()
    assert _domain_of(tokens, list(sizes)) == {"a": 2_000, "b": 2_000}


def test_repetition_beyond_max_epochs_is_refused_naming_the_domain():
    sizes = {"a": 1_000, "b": 10_000}
    with pytest.raises(RepetitionLimitError) as err:
        plan_mixture({"a": 0.5, "b": 0.5}, sizes, SEQ * 250, SEQ, max_epochs={"a": 1.5})
    msg = str(err.value)
    assert "'a'" in msg and "2 epochs" in msg and "max_epochs is 1.5" in msg
    assert "'b'" not in msg.split("refused before training:")[1]


def test_weight_upper_bounds_match_the_limit_and_are_accepted_at_the_bound():
    sizes = {"a": 1_000, "b": 10_000, "c": 50_000}
    total = SEQ * 250  # 4000 tokens
    bounds = weight_upper_bounds(sizes, total, {"a": 1.5, "b": 0.1})
    assert bounds == pytest.approx({"a": 1.5 * 1_000 / 4_000, "b": 0.1 * 10_000 / 4_000,
                                    "c": 1.0})
    w = {"a": bounds["a"], "b": bounds["b"], "c": 1 - bounds["a"] - bounds["b"]}
    plan = plan_mixture(w, sizes, total, SEQ, max_epochs={"a": 1.5, "b": 0.1})
    assert plan.counts["a"] <= math.ceil(1.5 * 1_000)
    with pytest.raises(RepetitionLimitError):
        plan_mixture({"a": bounds["a"] + 0.01, "b": 0.0, "c": 1 - bounds["a"] - 0.01}, sizes,
                     total, SEQ, max_epochs={"a": 1.5})


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_any_mixture_within_the_bounds_is_accepted(data):
    sizes = {"a": 700, "b": 2_000, "c": 9_000}
    limits = {"a": data.draw(st.floats(0.5, 4)), "b": data.draw(st.floats(0.2, 4)), "c": None}
    total = SEQ * data.draw(st.integers(1, 400))
    bounds = weight_upper_bounds(sizes, total, limits)
    fa = data.draw(st.floats(0, 1)) * bounds["a"]
    fb = data.draw(st.floats(0, 1)) * min(bounds["b"], 1 - fa)
    plan = plan_mixture({"a": fa, "b": fb, "c": 1 - fa - fb}, sizes, total, SEQ, limits)
    assert sum(plan.counts.values()) == total


def test_weights_are_validated_not_renormalised():
    names = ["a", "b"]
    with pytest.raises(ValidationError, match="off by"):
        validate_weights({"a": 0.5, "b": 0.6}, names)
    with pytest.raises(ValidationError, match=r"weights\['a'\]"):
        validate_weights({"a": -0.1, "b": 1.1}, names)
    with pytest.raises(ValidationError, match="unknown domains"):
        validate_weights({"a": 0.5, "zzz": 0.5}, names)
    assert validate_weights({"a": 1.0}, names) == {"a": 1.0, "b": 0.0}


def test_plan_rejects_totals_that_are_not_whole_sequences_and_unknown_limit_domains():
    with pytest.raises(ValidationError, match="multiple of seq_len"):
        plan_mixture({"a": 1.0}, {"a": 1_000}, SEQ * 10 + 1, SEQ)
    with pytest.raises(ValidationError, match=r"max_epochs\['nope'\]"):
        plan_mixture({"a": 1.0}, {"a": 1_000}, SEQ * 10, SEQ, max_epochs={"nope": 1})
    with pytest.raises(RepetitionLimitError, match="fewer than seq_len"):
        plan_mixture({"a": 0.5, "b": 0.5}, {"a": 1_000, "b": SEQ - 1}, SEQ * 10, SEQ)

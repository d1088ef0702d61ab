"""Domain-update scenarios on a recorded runs table (ADMIRE IFT Runs): merged -> split -> add.

A recorded table has no truth off its rows, so each stage is a view of some of its rows: the
table's mixtures are dealt (by seed, stratified by the rungs a mixture reached) into three
disjoint pools, one per stage, as the synthetic scenario draws a fresh swarm per stage. Every
row keeps its recorded objective, since that is what the study at that stage measured:

* ``coarse``: two same-kind domains merged (a run's merged weight is the sum of the two) and the
  missing domain dropped (weights renormalised over the rest);
* ``split``: the merged domain split into its two parts, the missing one still dropped; the
  warm-start mapping splits the merged domain in proportion to the two parts' mean shares over
  the whole table (the pool's token proportion: no per-run ratio is known after a merge);
* ``add``: the missing domain added (all domains, as recorded).

On ADMIRE the missing domain is ``tulu_hard_coded_repeated_10``: the only one with zero weights
(83 of 256 mixtures) and at most 0.12% elsewhere, so dropping it changes weights by <= 0.12%.
The merged pair is drawn by seed from the same-kind pairs of :data:`KINDS` (a rule fixed before
any run, not chosen by what makes reuse win).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from admire.problems.reuse_scenarios import Stage
from admire.problems.synthetic import stream_rng
from admire.schema import runs

STREAM = 60  # random streams of this module (reuse_scenarios uses 40..)
MISSING = "tulu_hard_coded_repeated_10"
# Tulu-3 SFT sources by kind (from the sources' documented content); merges stay within a kind,
# as a real source is split into finer sources of the same kind.
KINDS: dict[str, tuple[str, ...]] = {
    "math": ("numinamath_tir_math_decontaminated", "personahub_math_v5_regen_149960",
             "tulu_v3.9_open_math_2_gsm8k_50k", "tulu_v3.9_personahub_math_interm_algebra_20k",
             "tulu-3-sft-personas-math-grade"),
    "code": ("evol_codealpaca_heval_decontaminated", "personahub_code_v2_34999"),
    "safety": ("coconot_converted",
               "tulu_v3.9_synthetic_finalresp_wildguardmixtrain_decontaminated_50k",
               "tulu_v3.9_wildjailbreak_decontaminated_50k"),
    "chat": ("no_robots_converted", "oasst1_converted", "tulu_v3.9_aya_100k",
             "tulu_v3.9_wildchat_100k"),
}
STAGES = ("coarse", "split", "add")


def same_kind_pairs() -> list[tuple[str, str]]:
    return [pair for names in KINDS.values() for pair in combinations(names, 2)]


def merge_pair(seed: int) -> tuple[str, str]:
    """The pair merged in seed ``seed``'s scenario: uniform over :func:`same_kind_pairs`."""
    pairs = same_kind_pairs()
    return pairs[int(stream_rng(seed, STREAM).integers(len(pairs)))]


def deal_mixtures(table: pd.DataFrame, n: int, seed: int) -> np.ndarray:
    """A pool index in ``0..n-1`` per row: mixtures dealt round-robin after a seeded shuffle
    within each group of mixtures that reached the same rungs, so every pool gets its share of
    target mixtures and a mixture keeps all its rungs."""
    keys = runs.mixture_keys(table)
    reached = table.groupby(keys)[runs.RUNG].agg(lambda s: tuple(sorted(s)))
    rng = stream_rng(seed, STREAM + 1)
    pool_of: dict[tuple[float, ...], int] = {}
    offset = 0
    for _, group in reached.groupby(reached, sort=True):
        order = rng.permutation(len(group))
        for j, key in enumerate(group.index[order]):
            pool_of[key] = (offset + j) % n
        offset += len(group)
    return keys.map(pool_of).to_numpy(dtype=int)


def merge_view(table: pd.DataFrame, pair: tuple[str, str], drop: str | None) -> pd.DataFrame:
    """``table`` with ``drop`` removed (weights renormalised) and ``pair`` summed into one
    domain named ``a+b`` in ``a``'s place; metrics, costs and rungs unchanged."""
    out = table.copy()
    w = runs.WEIGHT_PREFIX
    if drop is not None:
        rest = [c for c in runs.weight_columns(out) if c != w + drop]
        out[rest] = out[rest].div(out[rest].sum(axis=1), axis=0)
        out = out.drop(columns=w + drop)
    a, b = pair
    out[w + a] = out[w + a] + out[w + b]
    return out.drop(columns=w + b).rename(columns={w + a: w + f"{a}+{b}"})


def drop_view(table: pd.DataFrame, drop: str) -> pd.DataFrame:
    """``table`` without ``drop``, the other weights renormalised."""
    rest = [c for c in runs.weight_columns(table) if c != runs.WEIGHT_PREFIX + drop]
    out = table.drop(columns=runs.WEIGHT_PREFIX + drop)
    out[rest] = out[rest].div(out[rest].sum(axis=1), axis=0)
    return out


def recorded_scenario(table: pd.DataFrame, pair: tuple[str, str], missing: str, seed: int,
                      name: str = "recorded") -> list[Stage]:
    """coarse (``pair`` merged, ``missing`` dropped) -> split -> add, on disjoint row pools."""
    fine = tuple(runs.domains(table))
    a, b = pair
    k = len(fine)
    mean = table[[runs.WEIGHT_PREFIX + d for d in pair]].mean()
    share = float(mean.iloc[0] / mean.sum())
    merged = f"{a}+{b}"

    def view(domains: tuple[str, ...]) -> np.ndarray:
        m = np.zeros((len(domains), k))
        for i, d in enumerate(domains):
            if d == merged:
                m[i, fine.index(a)], m[i, fine.index(b)] = share, 1.0 - share
            else:
                m[i, fine.index(d)] = 1.0
        return m

    pools = deal_mixtures(table, len(STAGES), seed)
    parts = [table[pools == j].assign(**{runs.STUDY: f"{name}-{s}-s{seed}"})
             .reset_index(drop=True) for j, s in enumerate(STAGES)]
    tables = [merge_view(parts[0], pair, missing), drop_view(parts[1], missing), parts[2]]
    mappings = [None, {"split": {merged: {a: share, b: 1.0 - share}}}, {"added": [missing]}]
    stages = []
    for stage_name, stage_table, mapping in zip(STAGES, tables, mappings, strict=True):
        domains = tuple(runs.domains(stage_table))
        stages.append(Stage(stage_name, domains, view(domains), stage_table, mapping))
    return stages


def admire_ift_scenario(seed: int = 0) -> list[Stage]:
    """The recorded scenario on ADMIRE IFT Runs with seed ``seed``'s merged pair."""
    from admire.problems import ADMIRE_TABLE

    return recorded_scenario(runs.read_runs(ADMIRE_TABLE), merge_pair(seed), MISSING, seed,
                             name="admire-ift")

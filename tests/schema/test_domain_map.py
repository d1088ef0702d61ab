"""Domain maps: each kind of change carries old weights into the new space, each bad mapping is
a ConfigError naming its field and value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from admire.errors import ConfigError
from admire.schema import runs
from admire.schema.domain_map import domain_map

OLD = ("web", "code", "books")


def test_rename_split_by_tokens_and_add():
    m = domain_map(OLD, ("cc", "python", "other_code", "books", "math"),
                   renamed={"web": "cc"}, split={"code": ["python", "other_code"]},
                   added=["math"], tokens={"python": 3.0, "other_code": 1.0})
    mapped, keep = m.apply(np.array([[0.5, 0.4, 0.1], [0.2, 0.0, 0.8]]))
    assert keep.all()
    np.testing.assert_allclose(mapped, [[0.5, 0.3, 0.1, 0.1, 0.0], [0.2, 0.0, 0.0, 0.8, 0.0]])
    np.testing.assert_allclose(mapped.sum(axis=1), 1.0)
    assert m.affected == ("python", "other_code", "math")


def test_explicit_split_fractions():
    m = domain_map(OLD, ("web", "a", "b", "books"), split={"code": {"a": 0.25, "b": 0.75}})
    mapped, _ = m.apply(np.array([0.2, 0.4, 0.4]))
    np.testing.assert_allclose(mapped, [[0.2, 0.1, 0.3, 0.4]])


@pytest.mark.parametrize("on_removed", ["drop", "renormalize"])
def test_removed_domain_drops_or_renormalises_the_rows_that_used_it(on_removed):
    m = domain_map(OLD, ("web", "books"), removed=["code"], on_removed=on_removed)
    w = np.array([[0.5, 0.0, 0.5], [0.3, 0.4, 0.3], [0.0, 1.0, 0.0]])
    mapped, keep = m.apply(w)
    if on_removed == "drop":
        assert keep.tolist() == [True, False, False]
        np.testing.assert_allclose(mapped, [[0.5, 0.5]])
    else:  # a run entirely on the removed domain has nothing left to renormalise
        assert keep.tolist() == [True, True, False]
        np.testing.assert_allclose(mapped, [[0.5, 0.5], [0.5, 0.5]])


def test_apply_table_keeps_the_other_columns():
    table = pd.DataFrame({runs.RUN_ID: ["a", "b"], runs.STUDY: "s",
                          "w:web": [0.5, 0.1], "w:code": [0.5, 0.0], "w:books": [0.0, 0.9],
                          runs.RUNG: "r0", runs.FIDELITY: 1.0, runs.COST: 1.0, "m:loss": [1, 2],
                          runs.STATUS: "completed", runs.SEED: 0, runs.STARTED_AT: pd.NaT,
                          runs.FINISHED_AT: pd.NaT})
    m = domain_map(OLD, ("web", "books"), removed=["code"])
    out = m.apply_table(table)
    assert runs.domains(out) == ["web", "books"] and out[runs.RUN_ID].tolist() == ["b"]
    assert out["m:loss"].tolist() == [2]
    with pytest.raises(ConfigError, match="not the mapping's old domains"):
        domain_map(("web", "books"), ("web", "books")).apply_table(table, where="t.parquet")


@pytest.mark.parametrize(("kwargs", "new", "field", "text"), [
    ({}, ("web", "books"), "warm_start.code", "'code' is mapped nowhere"),
    ({"renamed": {"web": "books"}}, ("books", "code"), "warm_start.books", "claimed twice"),
    ({"split": {"code": {"a": 0.5, "b": 0.4}}}, ("web", "a", "b", "books"),
     "warm_start.split.code", "sum to 0.9"),
    ({"split": {"code": ["a", "b"]}}, ("web", "a", "b", "books"), "warm_start.split.code",
     "token counts of ['a', 'b']"),
    ({"renamed": {"nope": "x"}}, OLD, "warm_start.renamed", "unknown old domain 'nope'"),
    ({"added": ["math"]}, OLD, "warm_start.added", "unknown new domain 'math'"),
    ({}, (*OLD, "math"), "warm_start", "['math'] come from no old domain"),
    ({"removed": ["code"], "split": {"code": {"web": 1.0}}}, ("web", "books"),
     "warm_start.removed", "both split and removed"),
    ({"on_removed": "keep"}, OLD, "warm_start.on_removed", "'keep'"),
])
def test_bad_mappings_name_the_field_and_value(kwargs, new, field, text):
    with pytest.raises(ConfigError) as info:
        domain_map(OLD, new, **kwargs)
    assert info.value.where == field and text in info.value.problem


def test_weights_that_no_longer_sum_to_one_name_the_row():
    m = domain_map(OLD, OLD)
    with pytest.raises(ConfigError, match="sum to 0.5") as info:
        m.apply(np.array([[0.3, 0.3, 0.4], [0.2, 0.2, 0.1]]))
    assert info.value.where == "row 2"

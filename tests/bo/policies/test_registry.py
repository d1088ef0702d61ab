"""Policies by name: specs, typed options, and errors that name the bad value."""

from __future__ import annotations

import pytest

from admire.bo.policies.options import KnowledgeGradientOptions, ScreenConfirmOptions
from admire.bo.policies.registry import (
    DEFAULT_POLICY,
    parse_policy,
    policy_names,
    policy_spec,
    split_specs,
)
from admire.errors import ConfigError


def test_split_specs_keeps_options_together():
    assert split_specs("mfbo, kg:kernel=linear,input_scale=range,sfbo,random") == [
        "mfbo", "kg:kernel=linear,input_scale=range", "sfbo", "random"]


def test_mfbo_is_the_default_and_policy_picks_another():
    assert parse_policy("mfbo").name == DEFAULT_POLICY == "screen-confirm"
    text = "mfbo:policy=kg,proxy_share=0.2,initial_trials=3"
    spec = parse_policy(text)
    assert spec.name == "kg" and spec.label == text
    assert spec.options == KnowledgeGradientOptions(proxy_share=0.2, initial_trials=3)
    assert parse_policy("kg:proxy_share=none").options.proxy_share is None


def test_options_are_typed_strictly():
    assert parse_policy("screen-confirm:proxy_share=0.25").options == ScreenConfirmOptions(
        proxy_share=0.25)
    with pytest.raises(ConfigError, match="option 'initial_trials'"):
        parse_policy("kg:initial_trials=2.5")  # an integer option given a float
    with pytest.raises(ConfigError, match="option 'caution'"):
        parse_policy("kg:caution=nan")


@pytest.mark.parametrize(("text", "named"), [
    ("mfbo:policy=typo", "unknown policy 'typo'"),
    ("typo", "unknown policy 'typo'"),
    ("kg:kernel=foo", "option 'kernel'"),
    ("kg:colour=red", "unknown option 'colour' for policy 'kg'"),
    ("random:kernel=rbf", "unknown option 'kernel' for policy 'random'; its options: none"),
    ("kg:proxy_share=2", "option 'proxy_share'"),
    ("kg:kernel=linear,surrogate=mfgp", "needs surrogate 'icm'"),
    ("kg:kernel", "expected option=value"),
])
def test_bad_specs_name_the_bad_value_and_list_the_valid_ones(text, named):
    with pytest.raises(ConfigError) as err:
        parse_policy(text)
    assert named in str(err.value) and text in str(err.value)


def test_unknown_policy_lists_every_policy():
    with pytest.raises(ConfigError) as err:
        policy_spec("bogus")
    for name in policy_names():
        assert name in str(err.value)


def test_spec_round_trips_through_its_table():
    spec = parse_policy("kg:kernel=linear+rbf,caution=1.5,proxy_share=none")
    table = spec.to_dict()
    name = table.pop("name")
    assert policy_spec(name, table) == spec

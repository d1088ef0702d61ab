"""Method specs for replay: names, mfbo options, and the comma-separated list."""

import pytest

from admire.bo.policies.baselines import parse_method, split_methods
from admire.errors import ValidationError


def test_split_methods_keeps_mfbo_options_together():
    assert split_methods("mfbo, mfbo:policy=kg,input_scale=range,sfbo,random") == [
        "mfbo", "mfbo:policy=kg,input_scale=range", "sfbo", "random"]


def test_parse_method_types_options_and_names_bad_ones():
    assert parse_method("mfbo:policy=kg,proxy_share=0.2,initial_trials=3") == (
        "mfbo", {"policy": "kg", "proxy_share": 0.2, "initial_trials": 3})
    with pytest.raises(ValidationError, match="unknown mfbo option 'colour'"):
        parse_method("mfbo:colour=red")
    with pytest.raises(ValidationError, match="unknown method 'bogus'"):
        parse_method("bogus")

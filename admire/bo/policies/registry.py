"""Policies by name, with validated options.

    policy_spec("kg", {"kernel": "linear"})      # from a config's [policy] table
    parse_policy("mfbo:policy=kg,kernel=linear")  # from a --methods spec
    build_policy(spec, context)                   # the Policy object

``mfbo`` names admire's default policy; ``mfbo:policy=NAME`` picks another of admire's
multi-fidelity policies by name, so replay specs read as "admire with this policy". Unknown
policies and options, and bad values, raise a ConfigError that names them and lists the valid
ones; nothing heavy is imported until a policy is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError as PydanticError

from admire.bo.policies.base import Policy, PolicyContext, PolicySpec
from admire.bo.policies.options import (
    HyperbandOptions,
    KnowledgeGradientOptions,
    MultiObjectiveOptions,
    NoOptions,
    OlmixOptions,
    PolicyOptions,
    ReuseOptions,
    ScreenConfirmOptions,
)
from admire.errors import ConfigError

DEFAULT_POLICY = "screen-confirm"
ALIAS = "mfbo"  # admire's default; "mfbo:policy=kg" = "kg"

# name -> (options model, "module:Class" of the implementation)
POLICIES: dict[str, tuple[type[PolicyOptions], str]] = {
    "screen-confirm": (ScreenConfirmOptions, "admire.bo.policies.screen_confirm:ScreenConfirm"),
    "kg": (KnowledgeGradientOptions, "admire.bo.policies.kg:KnowledgeGradient"),
    "sfbo": (NoOptions, "admire.bo.policies.baselines:SingleFidelityBO"),
    "random": (NoOptions, "admire.bo.policies.baselines:RandomTarget"),
    "regmix": (NoOptions, "admire.bo.policies.baselines:RegMix"),
    "olmix": (OlmixOptions, "admire.bo.policies.olmix:Olmix"),
    "hyperband": (HyperbandOptions, "admire.bo.policies.hyperband:Hyperband"),
    "reuse": (ReuseOptions, "admire.bo.policies.reuse:Reuse"),
    "mobo": (MultiObjectiveOptions, "admire.bo.policies.mobo:MultiObjectiveBO"),
}


def policy_names() -> list[str]:
    return sorted(POLICIES)


def _resolve(name: str, where: str) -> str:
    if name == ALIAS:
        return DEFAULT_POLICY
    if name not in POLICIES:
        raise ConfigError(f"unknown policy {name!r}; choose from {[ALIAS, *policy_names()]}",
                          where=where)
    return name


Place = Callable[[str | None], str]  # where an option (None: the policy itself) was given


def table_place(where: str) -> Place:
    """Places in a config's ``[policy]`` table: ``study.toml: policy.kernel``."""
    return lambda key: f"{where}.{key or 'name'}"


def policy_spec(name: str, options: Mapping[str, Any] | None = None, *,
                place: Place | None = None, label: str = "") -> PolicySpec:
    """Validate ``options`` for the policy ``name``; errors name the option's place."""
    place = place or table_place("policy")
    options = dict(options or {})
    name_key = None
    if name == ALIAS and "policy" in options:
        name, name_key = str(options.pop("policy")), "policy"
    name = _resolve(name, place(name_key))
    model = POLICIES[name][0]
    for key in options:
        if key not in model.model_fields:
            listed = sorted(model.model_fields) or "none"
            raise ConfigError(f"unknown option {key!r} for policy {name!r}; its options: "
                              f"{listed}", where=place(key))
    try:
        return PolicySpec(name, model.model_validate(options), label)
    except PydanticError as exc:
        loc = exc.errors()[0].get("loc", ())
        raise ConfigError(_describe(exc), where=place(".".join(map(str, loc)) or None)) from None


def _describe(exc: PydanticError) -> str:
    error = exc.errors()[0]
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if error.get("loc") and "input" in error:
        message += f", got {error['input']!r}"
    return message


def _value(text: str) -> Any:
    """A ``--methods`` option value as TOML would type it: none, true/false, an integer, a
    float, else the text itself (the options model then checks the type strictly)."""
    text = text.strip()
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_policy(text: str, *, where: str = "--methods") -> PolicySpec:
    """``name[:option=value,...]`` -> a validated spec labelled with ``text``."""
    name, _, rest = text.strip().partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"expected option=value in {text!r}, got {item!r}", where=where)
        options[key.strip()] = _value(value)
    def place(key: str | None) -> str:
        return f"{where} {text.strip()!r}" + (f", option {key!r}" if key else "")

    return policy_spec(name.strip(), options, place=place, label=text.strip())


def split_specs(text: str) -> list[str]:
    """``mfbo,kg:kernel=linear,caution=1,sfbo`` -> three specs: a ``key=value`` part with no
    ``:`` continues the options of the spec before it."""
    specs: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if specs and "=" in part and ":" not in part:
            specs[-1] += "," + part
        else:
            specs.append(part)
    return specs


def build_policy(spec: PolicySpec, context: PolicyContext) -> Policy:
    module, _, cls = POLICIES[spec.name][1].partition(":")
    policy_cls: type[Policy] = getattr(importlib.import_module(module), cls)
    return policy_cls(spec.options, context)


def default_spec() -> PolicySpec:
    return policy_spec(DEFAULT_POLICY)

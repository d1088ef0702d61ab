"""Built-in domains: the math generator's answers, and what identifies each domain's text."""

from __future__ import annotations

import random
import re

from admire.proxy.data.builtin import BUILTIN_DOMAINS, builtin_fingerprint
from admire.proxy.data.mathgen import generate_math_document


def test_math_generator_is_deterministic_and_its_answers_are_right():
    a = [generate_math_document(random.Random(7)) for _ in range(3)]
    b = [generate_math_document(random.Random(7)) for _ in range(3)]
    assert a == b
    assert generate_math_document(random.Random(8)) != a[0]
    text = "\n\n".join(generate_math_document(random.Random(s), 40) for s in range(10))
    eqs = re.findall(r"Solve (-?\d+)\*x ([+-]) (\d+) = (-?\d+) for x\.\n.*\n.*\nAnswer: x = "
                     r"(-?\d+)", text)
    assert len(eqs) > 10
    for a_, sign, b_, c, x in eqs:
        assert int(a_) * int(x) + (int(b_) if sign == "+" else -int(b_)) == int(c)
    divs = re.findall(r"Divide (\d+) by (\d+)\.\n.*\nAnswer: (\d+) remainder (\d+)", text)
    assert divs and all(int(n) == int(d) * int(q) + int(r) and int(r) < int(d)
                        for n, d, q, r in divs)


def test_each_builtin_is_identified_by_its_installed_package():
    prints = {name: builtin_fingerprint(name) for name in BUILTIN_DOMAINS}
    assert prints["dialogue"]["version"] == "0.9.0"
    assert prints["legal"]["version"] == "32.1.0"
    assert prints["code"]["version"].startswith("python-3.")
    assert len({str(p) for p in prints.values()}) == len(BUILTIN_DOMAINS)

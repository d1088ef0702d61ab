"""Deterministic math text, like DeepMind Mathematics (itself synthetic): problems with worked
answers, so the math domain costs no download and has any size the byte cap asks for."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np

_NAMES = ("Ada", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jun", "Kofi",
          "Lena", "Mateo", "Nia", "Omar", "Priya")
_ITEMS = ("apples", "pencils", "books", "tickets", "bottles", "stamps", "marbles", "cards")


def _signed(v: int) -> str:
    return f"+ {v}" if v >= 0 else f"- {-v}"


def _arithmetic(r: random.Random) -> str:
    a, b, c = r.randint(2, 99), r.randint(2, 99), r.randint(2, 12)
    op = r.choice("+-*")
    inner = {"+": a + b, "-": a - b, "*": a * b}[op]
    return (f"Calculate ({a} {op} {b}) * {c}.\n"
            f"First {a} {op} {b} = {inner}. Then {inner} * {c} = {inner * c}.\n"
            f"Answer: {inner * c}")


def _division(r: random.Random) -> str:
    d = r.randint(2, 25)
    q, rem = r.randint(2, 99), r.randint(0, d - 1)
    n = d * q + rem
    return (f"Divide {n} by {d}.\n{d} * {q} = {d * q}, and {n} - {d * q} = {rem}.\n"
            f"Answer: {q} remainder {rem}")


def _fractions(r: random.Random) -> str:
    a, b, c, d = r.randint(1, 12), r.randint(2, 12), r.randint(1, 12), r.randint(2, 12)
    total = Fraction(a, b) + Fraction(c, d)
    answer = str(total.numerator) if total.denominator == 1 else str(total)
    return (f"What is {a}/{b} + {c}/{d}?\n"
            f"Over the common denominator {b * d}: {a * d}/{b * d} + {c * b}/{b * d} = "
            f"{a * d + c * b}/{b * d}.\n"
            f"Answer: {answer}")


def _gcd_lcm(r: random.Random) -> str:
    g = r.randint(2, 15)
    a, b = g * r.randint(2, 20), g * r.randint(2, 20)
    gcd = int(np.gcd(a, b))
    return (f"Find the greatest common divisor and least common multiple of {a} and {b}.\n"
            f"gcd({a}, {b}) = {gcd}; lcm = {a} * {b} / {gcd} = {a * b // gcd}.\n"
            f"Answer: gcd {gcd}, lcm {a * b // gcd}")


def _linear_equation(r: random.Random) -> str:
    x, a = r.randint(-20, 20), r.choice([i for i in range(-9, 10) if i not in (0,)])
    b = r.randint(-50, 50)
    c = a * x + b
    return (f"Solve {a}*x {_signed(b)} = {c} for x.\n"
            f"{a}*x = {c} {_signed(-b)} = {c - b}\n"
            f"x = {c - b} / {a} = {x}\n"
            f"Answer: x = {x}")


def _linear_system(r: random.Random) -> str:
    while True:
        a, b, d, e = (r.randint(-9, 9) for _ in range(4))
        det = a * e - b * d
        if det != 0 and 0 not in (a, b, d, e):
            break
    x, y = r.randint(-10, 10), r.randint(-10, 10)
    c, f = a * x + b * y, d * x + e * y
    return (f"Solve the system {a}*x {_signed(b)}*y = {c} and {d}*x {_signed(e)}*y = {f}.\n"
            f"det = {a}*{_p(e)} - ({b})*({d}) = {det}\n"
            f"x = ({c}*{_p(e)} - ({b})*({f})) / {det} = {c * e - b * f} / {det} = {x}\n"
            f"y = ({a}*{_p(f)} - ({c})*({d})) / {det} = {a * f - c * d} / {det} = {y}\n"
            f"Answer: x = {x}, y = {y}")


def _p(v: int) -> str:
    return f"({v})" if v < 0 else str(v)


def _matrix(r: random.Random) -> str:
    (a, b), (c, d) = ((r.randint(-5, 5) for _ in range(2)) for _ in range(2))
    x, y = r.randint(-5, 5), r.randint(-5, 5)
    top, bottom, det = a * x + b * y, c * x + d * y, a * d - b * c
    return (f"Let A = [[{a}, {b}], [{c}, {d}]] and v = [{x}, {y}]. Compute A v and det(A).\n"
            f"A v = [{_p(a)}*{_p(x)} + {_p(b)}*{_p(y)}, {_p(c)}*{_p(x)} + {_p(d)}*{_p(y)}] "
            f"= [{top}, {bottom}]\n"
            f"det(A) = {_p(a)}*{_p(d)} - {_p(b)}*{_p(c)} = {det}\n"
            f"Answer: A v = [{top}, {bottom}], det(A) = {det}")


def _polynomial(r: random.Random) -> str:
    a, b, c, x = r.randint(1, 9), r.randint(-9, 9), r.randint(-9, 9), r.randint(-5, 5)
    val = a * x * x + b * x + c
    return (f"Let f(x) = {a}*x^2 {_signed(b)}*x {_signed(c)}. What is f({x}) and f'(x)?\n"
            f"f({x}) = {a}*{x * x} {_signed(b * x)} {_signed(c)} = {val}\n"
            f"f'(x) = {2 * a}*x {_signed(b)}\n"
            f"Answer: f({x}) = {val}, f'(x) = {2 * a}*x {_signed(b)}")


def _word_problem(r: random.Random) -> str:
    name, item = r.choice(_NAMES), r.choice(_ITEMS)
    kind = r.randrange(4)
    if kind == 0:
        n, price = r.randint(2, 15), r.randint(1, 9)
        paid = (n * price // 10 + 1) * 10
        return (f"{name} buys {n} {item} at {price} dollars each and pays with {paid} dollars. "
                f"How much change does {name} get?\n"
                f"Cost: {n} * {price} = {n * price}. Change: {paid} - {n * price} = "
                f"{paid - n * price}.\nAnswer: {paid - n * price} dollars")
    if kind == 1:
        speed, hours = r.randint(20, 90), r.randint(2, 9)
        return (f"A train travels at {speed} km per hour for {hours} hours. How far does it go?\n"
                f"Distance = speed * time = {speed} * {hours} = {speed * hours}.\n"
                f"Answer: {speed * hours} km")
    if kind == 2:
        people, each = r.randint(2, 12), r.randint(2, 20)
        return (f"{name} shares {people * each} {item} equally among {people} friends. "
                f"How many does each friend get?\n{people * each} / {people} = {each}.\n"
                f"Answer: {each} {item}")
    price, pct = r.randint(2, 40) * 10, r.choice([10, 15, 20, 25, 30, 40, 50])
    off = price * pct // 100
    return (f"A coat costs {price} dollars and is {pct}% off. What is the sale price?\n"
            f"Discount: {price} * {pct} / 100 = {off}. Sale price: {price} - {off} = "
            f"{price - off}.\nAnswer: {price - off} dollars")


_MATH_KINDS = (_arithmetic, _division, _fractions, _gcd_lcm, _linear_equation, _linear_system,
               _matrix, _polynomial, _word_problem)


def generate_math_document(rng: random.Random, n_problems: int | None = None) -> str:
    """A few worked problems of mixed kinds; deterministic given the ``rng`` state."""
    n = n_problems if n_problems is not None else rng.randint(6, 16)
    return "\n\n".join(f"Problem {i + 1}. " + rng.choice(_MATH_KINDS)(rng) for i in range(n))

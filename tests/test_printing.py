"""Printing: IR <-> SymPy."""

from __future__ import annotations

import sympy as sp

from symgrad.evaluate import evaluate
from symgrad.primitives import elementwise as P
from symgrad.printing import from_sympy, to_sympy
from symgrad.trace import symbol


def test_from_sympy_maps_symbols_by_name_to_given_nodes():
    x = symbol("x", 3)
    back = from_sympy(sp.sin(sp.Symbol("x")) * 2, {"x": x})
    assert back is P.mul(2.0, P.sin(x))


def test_from_sympy_makes_symbols_for_unmapped_names():
    assert from_sympy(sp.Symbol("y") + 1, {"x": symbol("x", 3)}) is P.add(1.0, symbol("y"))


def test_to_sympy_and_back_keeps_the_value():
    x, y = symbol("x"), symbol("y")
    e = P.where(P.greater(x, y), P.exp(x) / y, P.maximum(x, 0.5) ** 3)
    back = from_sympy(to_sympy([e])[0], {"x": x, "y": y})
    for point in [(2.0, 1.5), (-1.0, 3.0), (0.25, 0.25)]:
        values = dict(zip((x, y), point, strict=True))
        assert evaluate([back], values)[0] == evaluate([e], values)[0]

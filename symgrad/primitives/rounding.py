"""Rounding and remainders: trunc, rint, fmod, remainder (and floor division built from them).

Rounding has derivative 0 (as in JAX: `np.round` is piecewise constant).
The remainders are `x - y*q` for a whole quotient q, so their derivatives
are 1 along x and -q along y: q = trunc(x/y) for `fmod` (C's remainder, the
sign of x) and q = floor_divide(x, y) for `remainder` (NumPy's `%`, the sign
of y). Both are exact where the quotient is not a whole number, and jump
where it is.
"""

from __future__ import annotations

import numpy as np

from ..ir import Node
from .elementwise import (
    add,
    div,
    equal,
    floor_p,
    greater,
    less,
    logical_and_p,
    mul,
    neg,
    not_equal,
    sub,
    where,
)
from .registry import Intrinsic, Libm, defprimitive

trunc_p = defprimitive(
    "trunc", 1, impl=np.trunc, partials=lambda x: (0.0,),
    sympy=lambda sp, x: sp.sign(x) * sp.floor(sp.Abs(x)), llvm=Intrinsic("llvm.trunc"), ufunc="trunc",
)
# Round half to even, as `np.rint`/`np.round` (LLVM's rint in the default rounding mode).
rint_p = defprimitive(
    "rint", 1, impl=np.rint, partials=lambda x: (0.0,),
    sympy=lambda sp, x: sp.Function("rint")(x), llvm=Intrinsic("llvm.rint"), ufunc="rint",
)

trunc = trunc_p.bind
rint = rint_p.bind

fmod_p = defprimitive(
    "fmod", 2, impl=np.fmod,
    partials=lambda x, y: (1.0, neg(trunc(div(x, y)))),
    sympy=lambda sp, x, y: x - y * sp.sign(x / y) * sp.floor(sp.Abs(x / y)),
    llvm=Libm("fmod"), ufunc="fmod",
)
fmod = fmod_p.bind


def _adjusted(x: Node, y: Node) -> tuple[Node, Node]:
    """fmod(x, y) and whether NumPy moves it to the sign of y (adding y) for `%`."""
    mod = fmod(x, y)
    return mod, logical_and_p.bind(not_equal(mod, 0.0), not_equal(less(y, 0.0), less(mod, 0.0)))


def floor_divide(x: Node, y: Node) -> Node:
    """`x // y` as NumPy computes it (from the exact remainder, so that x = y*(x // y) + x % y); derivative 0."""
    mod, moved = _adjusted(x, y)
    quotient = sub(div(sub(x, mod), y), where(moved, 1.0, 0.0))
    whole = floor_p.bind(quotient)
    whole = add(whole, where(greater(sub(quotient, whole), 0.5), 1.0, 0.0))
    # A zero quotient keeps the sign of x/y; division by zero gives x/y (inf or nan), as in NumPy.
    return where(equal(y, 0.0), div(x, y), where(equal(quotient, 0.0), mul(0.0, div(x, y)), whole))


def _remainder_decompose(x: Node, y: Node) -> Node:
    mod, moved = _adjusted(x, y)
    return where(moved, add(mod, y), mod)


remainder_p = defprimitive(
    "remainder", 2, impl=np.remainder,
    partials=lambda x, y: (1.0, neg(floor_divide(x, y))),
    sympy=lambda sp, x, y: sp.Mod(x, y), decompose=_remainder_decompose, ufunc="remainder",
)
remainder = remainder_p.bind

__all__ = ["floor_divide", "fmod", "fmod_p", "remainder", "remainder_p", "rint", "rint_p", "trunc", "trunc_p"]

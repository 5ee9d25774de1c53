"""Numerical derivative checks for users and for symgrad's own tests.

`check_grads` follows autograd's `test_util.py` and JAX's `check_grads`:
it compares the derivatives symgrad compiles with central finite
differences of the compiled function along one random direction `v`, so one
check covers the whole Jacobian (through `<u, J v>` for a random `u`). For
higher orders it recurses on the directional derivative `<u, J(args) v>`,
itself a traced function of `args`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import symgrad as sg


def check_grads(
    f: Callable[..., Any],
    args: Any,
    order: int = 2,
    modes: Sequence[str] = ("fwd", "rev"),
    atol: float = 1e-6,
    rtol: float = 1e-5,
    eps: float = 1e-6,
    seed: int = 0,
) -> None:
    """Check the derivatives of `f` at `args` up to `order` against finite differences.

    Args:
        f: a function of float arguments (floats or float arrays) returning
            one float or float array.
        args: the point: a tuple of arguments (anything else is one argument).
        order: the highest derivative order checked (1 for the Jacobian, 2
            adds the Hessian along the random directions, ...).
        modes: `"rev"` checks `sg.grad` (and `sg.vjp` when symgrad has it),
            `"fwd"` checks `sg.jvp` when symgrad has it, else the derivative
            of the line `t -> f(args + t v)` at 0; with both modes and
            `sg.jvp`/`sg.vjp`, also the adjoint identity `<u, J v> = <J^T u, v>`.
        atol, rtol: two numbers `a`, `b` agree when
            `|a - b| <= atol + rtol * max(|a|, |b|)`.
        eps: the finite-difference step along `v` (a unit-variance direction).
        seed: seeds the random directions.

    Raises:
        AssertionError: a derivative disagrees; the message gives the mode,
            the order and both numbers.

    >>> import numpy as np
    >>> import symgrad as sg
    >>> from symgrad.testing import check_grads
    >>> check_grads(lambda x: sg.sin(x) * x**2, (0.7,))
    >>> check_grads(lambda w, x: np.tanh(x @ w).sum(), (np.full((3, 2), 0.5), np.ones((4, 3))), order=1)
    """
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    args = tuple(np.asarray(a, dtype=np.float64) if np.ndim(a) else float(a) for a in args)
    unknown = set(modes) - {"fwd", "rev"}
    if unknown or not modes:
        raise ValueError(f"`modes` must be a non-empty subset of ('fwd', 'rev'), got {modes!r}")
    if order < 1:
        raise ValueError(f"`order` must be at least 1, got {order}")
    _check(f, args, 1, order, tuple(modes), atol, rtol, eps, np.random.default_rng(seed))


def _check(f, args, depth, order, modes, atol, rtol, eps, rng) -> None:
    """Check the derivative of order `depth` of the original function (`f` is its order `depth - 1`)."""
    f_jit = sg.jit(f)
    v = tuple(_random_like(a, rng) for a in args)
    u = _random_like(f_jit(*args), rng)
    plus = f_jit(*(a + eps * d for a, d in zip(args, v, strict=True)))
    minus = f_jit(*(a - eps * d for a, d in zip(args, v, strict=True)))
    numeric = _dot(u, (np.asarray(plus) - np.asarray(minus)) / (2 * eps))

    def u_dot_f(*a):
        return np.sum(np.multiply(u, f(*a)))

    def rev(*a):  # <J(a)^T u, v>
        grads = sg.grad(u_dot_f, argnums=tuple(range(len(a))))(*a)
        return sum(np.sum(np.multiply(g, d)) for g, d in zip(grads, v, strict=True))

    def fwd(*a):  # <u, J(a) v>
        if hasattr(sg, "jvp"):
            return np.sum(np.multiply(u, sg.jvp(f, tuple(a), v)[1]))
        # `a` rides along as arguments so that, when traced, the result is traced too.
        line = lambda t, *a: u_dot_f(*(x + t * d for x, d in zip(a, v, strict=True)))  # noqa: E731
        return sg.grad(line)(0.0, *a)

    directional = {"rev": rev, "fwd": fwd}
    for mode in modes:
        _agree(sg.jit(directional[mode])(*args), numeric, f"{mode}-mode derivative", depth, atol, rtol)
    if "rev" in modes and hasattr(sg, "vjp"):
        ju = sum(_dot(c, d) for c, d in zip(_as_tuple(sg.vjp(f, *args)[1](u)), v, strict=True))
        _agree(ju, numeric, "`sg.vjp`", depth, atol, rtol)
        if "fwd" in modes and hasattr(sg, "jvp"):
            jv = _dot(u, sg.jvp(f, args, v)[1])
            _agree(jv, ju, "adjoint identity <u, J v> = <J^T u, v>", depth, atol, rtol)
    if depth < order:
        for mode in modes:  # each mode is differentiated again by itself, as in JAX
            _check(directional[mode], args, depth + 1, order, (mode,), atol, rtol, eps, rng)


def _as_tuple(cotangents: Any) -> tuple:
    if not isinstance(cotangents, tuple):
        raise AssertionError(f"`vjp_fn` must return a tuple (one cotangent per primal), got {cotangents!r}")
    return cotangents


def _random_like(x: Any, rng: np.random.Generator) -> Any:
    if np.ndim(x) == 0:
        return float(rng.standard_normal())
    return rng.standard_normal(np.shape(x))


def _dot(a: Any, b: Any) -> float:
    return float(np.sum(np.multiply(a, b)))


def _agree(computed: Any, expected: Any, what: str, depth: int, atol: float, rtol: float) -> None:
    computed, expected = float(computed), float(expected)
    if not abs(computed - expected) <= atol + rtol * max(abs(computed), abs(expected)):
        raise AssertionError(
            f"{what} of order {depth} disagrees with central finite differences: "
            f"{computed!r} vs {expected!r} (atol={atol}, rtol={rtol})"
        )

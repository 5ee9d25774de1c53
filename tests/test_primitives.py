"""Every primitive, table-driven over `tests/specs.py`.

For each row: the declaration is complete; first and second derivatives of
the compiled `sg.grad` agree with central finite differences of compiled
code at seeded random points inside the domain; the derivatives agree with
`sympy.diff` of the primitive's SymPy form; the compiled kernel agrees with
the NumPy reference interpreter; and special points behave as declared.
Each transformed function is compiled once per primitive and called at
every point.
"""

from __future__ import annotations

import functools
import zlib

import numpy as np
import pytest
import sympy as sp
from specs import DIFFERENTIABLE, PRIMITIVE_SPECS, Spec

import symgrad as sg
from symgrad.diff import vjp
from symgrad.evaluate import evaluate
from symgrad.primitives import REGISTRY
from symgrad.printing import to_sympy
from symgrad.trace import symbol, wrap

N_POINTS = 12
EPS = 1e-5  # finite-difference step, relative to max(1, |x|)
INTERPRETER_RTOL, INTERPRETER_ATOL = 1e-12, 1e-15  # compiled vs NumPy: a few ulps
SPECIAL_RTOL = 1e-12
SYMPY_RTOL = 1e-9


def _rng(name: str, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(name.encode()), salt])


def _points(name: str) -> tuple[np.ndarray, ...]:
    """N_POINTS seeded points per operand (one array per operand)."""
    return tuple(np.asarray(x, dtype=np.float64) for x in PRIMITIVE_SPECS[name].sample(_rng(name), N_POINTS))


def _rows(points: tuple[np.ndarray, ...]) -> list[tuple[float, ...]]:
    return [tuple(float(x[k]) for x in points) for k in range(len(points[0]))]


class _Compiled:
    """The transformed functions of one primitive, each compiled on first call."""

    def __init__(self, spec: Spec):
        def fn(*a):
            return spec.fn(*a)

        every = spec.differentiable_operands()
        self.every = every
        self.value = sg.jit(fn)
        self.value_and_grad = sg.value_and_grad(fn, argnums=every)
        self._grad = sg.grad(fn, argnums=every)
        self._hessian_rows = {i: sg.grad(_partial(fn, i), argnums=every) for i in every}

    def grad(self, *point: float) -> tuple[float, ...]:
        grads = dict(zip(self.every, _as_tuple(self._grad(*point))))
        return tuple(grads.get(i) for i in range(len(point)))

    def hessian_row(self, i: int, *point: float) -> tuple[float, ...]:
        row = dict(zip(self.every, _as_tuple(self._hessian_rows[i](*point))))
        return tuple(row.get(j) for j in range(len(point)))


def _as_tuple(grads) -> tuple:
    assert isinstance(grads, tuple), grads
    return grads


def _partial(fn, i: int):
    def partial(*a):
        return sg.grad(fn, argnums=i)(*a)

    return partial


@functools.cache
def _compiled(name: str) -> _Compiled:
    return _Compiled(PRIMITIVE_SPECS[name])


def _central_difference(f, point: tuple[float, ...], j: int) -> np.ndarray:
    h = EPS * max(1.0, abs(point[j]))
    plus = list(point)
    minus = list(point)
    plus[j] += h
    minus[j] -= h
    return (np.asarray(f(*plus), dtype=np.float64) - np.asarray(f(*minus), dtype=np.float64)) / (2 * h)


# ----- Completeness -----


@pytest.mark.parametrize("p", REGISTRY.values(), ids=str)
def test_primitive_is_complete(p):
    assert p.impl and p.sympy and p.partials, p.name
    assert p.llvm or p.decompose, f"{p.name}: needs llvm= or decompose="
    assert p.name in PRIMITIVE_SPECS, f"{p.name}: add a row to tests/specs.py"
    assert PRIMITIVE_SPECS[p.name].arity == p.arity, p.name


def test_every_spec_row_names_a_registered_primitive():
    assert set(PRIMITIVE_SPECS) <= set(REGISTRY), set(PRIMITIVE_SPECS) - set(REGISTRY)


@pytest.mark.parametrize("name", PRIMITIVE_SPECS)
def test_spec_fn_traces_to_the_primitive(name):
    operands = [wrap(symbol(f"x{i}")) for i in range(PRIMITIVE_SPECS[name].arity)]
    node = PRIMITIVE_SPECS[name].fn(*operands).node
    assert node.op is REGISTRY[name], f"the `{name}` row traces to {node!r}"


# ----- Derivatives against central finite differences of compiled code -----


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_first_derivatives_match_finite_differences(name):
    spec, compiled = PRIMITIVE_SPECS[name], _compiled(name)
    for point in _rows(_points(name)):
        grads = compiled.grad(*point)
        for j in spec.smooth_operands():
            expected = _central_difference(compiled.value, point, j)
            np.testing.assert_allclose(grads[j], expected, rtol=spec.rtol, atol=spec.atol,
                                       err_msg=f"d {name}/d operand {j} at {point}")


@pytest.mark.parametrize("name", [n for n, s in DIFFERENTIABLE.items() if s.order >= 2])
def test_second_derivatives_match_finite_differences(name):
    spec, compiled = PRIMITIVE_SPECS[name], _compiled(name)
    smooth = spec.smooth_operands()
    for point in _rows(_points(name)):
        for i in smooth:
            row = compiled.hessian_row(i, *point)
            for j in smooth:
                expected = _central_difference(lambda *a, i=i: compiled.grad(*a)[i], point, j)
                np.testing.assert_allclose(row[j], expected, rtol=spec.rtol, atol=spec.atol,
                                           err_msg=f"d2 {name}/d{i} d{j} at {point}")


WITH_CONDITIONS = [n for n, s in PRIMITIVE_SPECS.items()
                   if len(s.smooth_operands()) < len(s.differentiable_operands())]


@pytest.mark.parametrize("name", WITH_CONDITIONS)
def test_gradient_is_exactly_zero_along_conditions(name):
    spec, compiled = PRIMITIVE_SPECS[name], _compiled(name)
    rough = [j for j in spec.differentiable_operands() if j not in spec.smooth_operands()]
    for point in _rows(_points(name)):
        grads = compiled.grad(*point)
        assert all(grads[j] == 0.0 for j in rough), (name, point, grads)


# ----- Special points -----


@pytest.mark.parametrize("name", [n for n, s in PRIMITIVE_SPECS.items() if s.special])
def test_special_points(name):
    prim, compiled = REGISTRY[name], _compiled(name)
    for special in PRIMITIVE_SPECS[name].special:
        with np.errstate(all="ignore"):
            reference = float(prim.impl(*(np.float64(x) for x in special.args)))
        np.testing.assert_allclose(compiled.value(*special.args), reference, rtol=SPECIAL_RTOL,
                                   equal_nan=True, err_msg=f"{name}{special.args}")
        if special.grads is None:
            continue
        grads = compiled.grad(*special.args)
        for j, expected in enumerate(special.grads):
            if expected is not None:
                np.testing.assert_allclose(grads[j], expected, rtol=SPECIAL_RTOL, atol=0,
                                           err_msg=f"d {name}/d operand {j} at {special.args}")


@pytest.mark.parametrize("name", [n for n, s in PRIMITIVE_SPECS.items() if s.fixed])
def test_derivative_along_a_fixed_operand_raises_naming_the_primitive(name):
    spec = PRIMITIVE_SPECS[name]
    point = _rows(_points(name))[0]
    for i in spec.fixed:
        with pytest.raises(sg.UnsupportedPrimitiveError, match=rf"`{name}`: no derivative with respect to"):
            sg.grad(lambda *a: spec.fn(*a), argnums=i)(*point)


def test_pow_exponent_derivative_at_zero_base_is_zero():
    assert sg.grad(lambda x, y: x**y, argnums=1)(0.0, 3.0) == 0.0


# ----- SymPy as an independent oracle -----


def _same_function(ours: sp.Expr, theirs: sp.Expr, symbols, points, what: str) -> None:
    """`simplify(ours - theirs) == 0`, or else equal values at every point."""
    if sp.simplify(ours - theirs) == 0:
        return
    for point in points:
        subs = {s: sp.Float(x, 30) for s, x in zip(symbols, point, strict=True)}
        a, b = complex(ours.evalf(30, subs=subs)), complex(theirs.evalf(30, subs=subs))
        assert abs(a - b) <= SYMPY_RTOL * max(1.0, abs(b)), (
            f"{what} at {point}: {ours} = {a} vs {theirs} = {b}")


@pytest.mark.parametrize("name", [n for n, s in DIFFERENTIABLE.items() if s.sympy_oracle])
def test_derivatives_match_sympy(name):
    spec = PRIMITIVE_SPECS[name]
    names = ["x", "y", "z"][: spec.arity]
    variables = [symbol(n) for n in names]
    real = [sp.Symbol(n, real=True) for n in names]
    as_real = dict(zip([sp.Symbol(n) for n in names], real, strict=True))

    def convert(node):
        return to_sympy([node])[0].xreplace(as_real)

    node = REGISTRY[name].bind(*variables)
    expr = convert(node)
    points = _rows(_points(name))[:4]
    wrt = [variables[i] for i in spec.differentiable_operands()]
    first = dict(zip(spec.differentiable_operands(), vjp([node], [1.0], wrt)))
    for i in spec.smooth_operands():
        theirs = sp.diff(expr, real[i])
        _same_function(convert(first[i]), theirs, real, points, f"d {name}/d{names[i]}")
        if spec.order < 2:
            continue
        second = dict(zip(spec.differentiable_operands(), vjp([first[i]], [1.0], wrt)))
        for j in spec.smooth_operands():
            _same_function(convert(second[j]), sp.diff(theirs, real[j]), real, points,
                           f"d2 {name}/d{names[i]} d{names[j]}")


# ----- Compiled kernel against the reference interpreter -----


@pytest.mark.parametrize("name", PRIMITIVE_SPECS)
def test_kernel_matches_interpreter(name):
    spec = PRIMITIVE_SPECS[name]
    points = _points(name)
    specials = [s.args for s in spec.special]
    rows = _rows(points) + specials
    kernel = _compiled(name).value_and_grad.compile(*rows[0])
    graph = kernel.graph
    assert len(graph.outputs) == 1 + len(spec.differentiable_operands())
    operands = [np.array([row[j] for row in rows]) for j in range(spec.arity)]
    reference = evaluate(graph.outputs, dict(zip(graph.inputs, operands, strict=True)))
    expected = [np.broadcast_to(v, (len(rows),)) for v in reference]
    for k, row in enumerate(rows):
        got = kernel(*row)
        want = [float(v[k]) for v in expected]
        np.testing.assert_allclose(got, want, rtol=INTERPRETER_RTOL, atol=INTERPRETER_ATOL, equal_nan=True,
                                   err_msg=f"value and gradient of {name} at {row}")

"""The symbolic layer: `symbols`, `diff`, `compile`, `formula`, and the SymPy round trip.

Derivatives are checked against SymPy's `diff` of the expression's own `.sympy()` form:
first by `simplify(a - b) == 0`, then, when SymPy cannot prove that, at random points.
"""

import numpy as np
import pytest
import sympy

import symgrad as sg


def _same(ours, theirs, symbols, seed=0):
    """`ours` (a symgrad expression) equals `theirs` (SymPy) identically."""
    ours = ours.sympy() if hasattr(ours, "sympy") else sympy.sympify(float(ours))
    difference = sympy.simplify(ours - theirs)
    if difference == 0:
        return True
    rng = np.random.default_rng(seed)
    for _ in range(5):
        point = {
            s: sympy.Float(v, 30)
            for s, v in zip(symbols, rng.uniform(0.2, 1.5, size=len(symbols)), strict=True)
        }
        a, b = complex(ours.evalf(30, subs=point)), complex(theirs.evalf(30, subs=point))
        if abs(a - b) > 1e-12 * max(1.0, abs(b)):
            return False
    return True


def _sympy_symbols(*names):
    return [sympy.Symbol(n) for n in names]


# ----- symbols -----


def test_symbols_scalar_several_and_arrays():
    x = sg.symbols("x")
    assert str(x) == "x"
    a, b, c = sg.symbols("a b c")
    assert [str(s) for s in (a, b, c)] == ["a", "b", "c"]
    assert [str(s) for s in sg.symbols("p, q")] == ["p", "q"]
    w = sg.symbols("w", shape=(5, 3))
    assert isinstance(w, np.ndarray) and w.dtype == object and w.shape == (5, 3)
    assert str(w[0, 1]) == "w[0, 1]"
    assert str(w[4, 2]) == "w[4, 2]"
    v = sg.symbols("v", shape=3)
    assert v.shape == (3,) and str(v[2]) == "v[2]"
    u, z = sg.symbols("u z", shape=(2,))
    assert str(u[1]) == "u[1]" and str(z[0]) == "z[0]"
    assert w[0, 1].sympy() == sympy.Symbol("w[0, 1]")
    with pytest.raises(ValueError):
        sg.symbols("  ")


# ----- diff -----


def test_diff_of_a_scalar_expression_matches_sympy():
    x, y = sg.symbols("x y")
    X, Y = _sympy_symbols("x", "y")
    expressions = [
        sg.sin(x) * y + x**3,
        sg.exp(x * y) / (1 + x**2),
        sg.log(1 + x**2) * sg.tanh(y) - sg.sqrt(x * x + y * y),
        sg.arctan(x / y) + sg.cosh(x) ** 2,
    ]
    for e in expressions:
        reference = e.sympy()
        for var, Var in [(x, X), (y, Y)]:
            assert _same(sg.diff(e, var), sympy.diff(reference, Var), [X, Y])


def test_higher_order_diff_matches_sympy():
    x, y = sg.symbols("x y")
    X, Y = _sympy_symbols("x", "y")
    e = sg.sin(x) * sg.exp(x * y) + x**5
    for order in (2, 3):
        assert _same(sg.diff(e, x, order), sympy.diff(e.sympy(), X, order), [X, Y])
    assert str(sg.diff(x**4, x, 3)) == "24*x"
    assert sg.diff(x**2, x, 0) is x**2
    # the same as differentiating repeatedly
    assert _same(sg.diff(sg.diff(sg.diff(e, x), x), x), sg.diff(e, x, 3).sympy(), [X, Y])


def test_diff_with_respect_to_an_array_has_its_shape():
    x, y = sg.symbols("x y")
    w = sg.symbols("w", shape=(5, 3))
    e = sg.sin(x) * y + (w**2).sum() + w[1, 2] * w[0, 0] * x
    gradient = sg.diff(e, w)
    assert gradient.shape == (5, 3)
    reference = e.sympy()
    all_symbols = [sympy.Symbol(str(s)) for s in [x, y, *w.flat]]
    for (i, j), partial in np.ndenumerate(gradient):
        assert _same(partial, sympy.diff(reference, sympy.Symbol(f"w[{i}, {j}]")), all_symbols)
    assert str(gradient[2, 1]) == "2*w[2, 1]"


def test_diff_of_a_vector_is_the_jacobian():
    xs = sg.symbols("x", shape=(3,))
    vec = np.array([xs[0] * xs[1], sg.sin(xs[2]) * xs[0], xs.sum() ** 2, sg.exp(xs[1])])
    jac = sg.diff(vec, xs)
    assert jac.shape == (4, 3)
    X = sympy.Matrix([sympy.Symbol(f"x[{i}]") for i in range(3)])
    reference = sympy.Matrix([e.sympy() for e in vec]).jacobian(X)
    for (i, j), partial in np.ndenumerate(jac):
        assert _same(partial, reference[i, j], list(X))
    # a matrix with respect to a matrix: shape vec.shape + xs.shape
    w = sg.symbols("w", shape=(2, 2))
    assert sg.diff(w @ w, w).shape == (2, 2, 2, 2)
    assert sg.diff(w @ w, w, 2).shape == (2, 2, 2, 2, 2, 2)
    # the Hessian of a scalar
    assert sg.diff((xs**3).sum(), xs, 2).shape == (3, 3)


def test_diff_with_respect_to_a_non_symbol_is_a_type_error():
    x = sg.symbols("x")
    with pytest.raises(TypeError, match="symbols"):
        sg.diff(x**2, x + 1)
    with pytest.raises(ValueError):
        sg.diff(x**2, x, -1)


# ----- compile -----


def test_compile_the_api_example():
    x, y = sg.symbols("x y")
    w = sg.symbols("w", shape=(5, 3))
    e = sg.sin(x) * y + (w**2).sum()
    k = sg.compile([x, y, w], [e, sg.diff(e, x)])
    value, derivative = k(1.0, 2.0, np.ones((5, 3)))
    assert value == pytest.approx(np.sin(1.0) * 2.0 + 15.0, rel=1e-15)
    assert derivative == pytest.approx(np.cos(1.0) * 2.0, rel=1e-15)
    rng = np.random.default_rng(1)
    wv = rng.normal(size=(5, 3))
    value, derivative = k(0.3, -1.5, wv)
    assert value == pytest.approx(np.sin(0.3) * -1.5 + (wv**2).sum(), rel=1e-14)
    assert derivative == pytest.approx(np.cos(0.3) * -1.5, rel=1e-15)


def test_compile_array_outputs_and_single_output():
    x, y = sg.symbols("x y")
    w = sg.symbols("w", shape=(2, 3))
    e = (w**2).sum() * x + y
    grad_w = sg.compile([x, y, w], sg.diff(e, w))
    wv = np.arange(6.0).reshape(2, 3)
    result = grad_w(2.0, 0.0, wv)
    assert isinstance(result, np.ndarray) and result.shape == (2, 3)
    np.testing.assert_allclose(result, 4.0 * wv, rtol=1e-15)
    single = sg.compile([x, y], x * y)
    assert single(2.0, 3.0) == 6.0
    with pytest.raises(ValueError, match="y"):
        sg.compile([x], x * y)


def test_compiled_values_match_sympy_evalf():
    x, y = sg.symbols("x y")
    e = sg.exp(sg.sin(x * y)) * sg.log(1 + x**2) / sg.sqrt(y)
    derivatives = [sg.diff(e, x), sg.diff(e, y), sg.diff(e, x, 2)]
    k = sg.compile([x, y], derivatives)
    X, Y = _sympy_symbols("x", "y")
    reference = [sympy.diff(e.sympy(), X), sympy.diff(e.sympy(), Y), sympy.diff(e.sympy(), X, 2)]
    rng = np.random.default_rng(2)
    for _ in range(4):
        xv, yv = rng.uniform(0.1, 2.0, size=2)
        ours = k(float(xv), float(yv))
        for a, ref in zip(ours, reference, strict=True):
            b = float(ref.evalf(30, subs={X: sympy.Float(xv, 30), Y: sympy.Float(yv, 30)}))
            assert a == pytest.approx(b, rel=1e-12, abs=1e-14)


# ----- SymPy round trip and formulas -----


def test_from_sympy_round_trip():
    x, y = sg.symbols("x y")
    expressions = [
        sg.sin(x) * y + x**3,
        sg.exp(x) / (1 + y**2),
        sg.sqrt(x) * sg.log(y) - sg.tanh(x * y),
        sg.diff(sg.arctan(x * y) * sg.cos(x), x, 2),
    ]
    rng = np.random.default_rng(3)
    for e in expressions:
        back = sg.from_sympy(e.sympy())
        assert sympy.simplify(back.sympy() - e.sympy()) == 0
        k = sg.compile([x, y], [e, back])
        for _ in range(3):
            xv, yv = rng.uniform(0.2, 2.0, size=2)
            a, b = k(float(xv), float(yv))
            assert a == pytest.approx(b, rel=1e-13)
    # SymPy expressions built by hand come in too
    X, Y = _sympy_symbols("x", "y")
    converted = sg.from_sympy(sympy.sin(X) ** 2 + sympy.exp(-Y) * X)
    assert sg.compile([x, y], converted)(0.5, 1.0) == pytest.approx(
        np.sin(0.5) ** 2 + np.exp(-1.0) * 0.5, rel=1e-15
    )


def test_formula_of_an_expression():
    x, y = sg.symbols("x y")
    f = sg.formula(sg.diff(2 * x**2 * y, x))
    assert isinstance(f, sg.Formula)
    assert str(f) == "4*x*y"
    assert sympy.simplify(sympy.sympify(f.sympy()) - 4 * sympy.Symbol("x") * sympy.Symbol("y")) == 0
    assert isinstance(f.ops, int) and f.ops >= 1
    assert "x" in f.latex()
    w = sg.symbols("w", shape=(2,))
    g = sg.formula(sg.diff((w**2).sum(), w))
    assert "w[0]" in str(g) and "w[1]" in str(g)

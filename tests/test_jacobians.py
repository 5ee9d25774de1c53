"""`jacobian`, `jacfwd`, `jacrev` and `hessian`: shapes, and values against finite differences and SymPy.

Each test function is written once against a math module `m` (NumPy, SymPy, or symgrad
itself), so SymPy differentiates its own copy of the function, independent of symgrad's
tracer and derivative passes.
"""

import numpy as np
import pytest
import sympy

import symgrad as sg

JACOBIANS = [sg.jacobian, sg.jacfwd, sg.jacrev]

# Vector functions R^3 -> R^k, as lists of components in terms of a math module `m`.
FUNCTIONS = {
    "trig": lambda x, m: [m.sin(x[0]) * x[1], m.cos(x[1] * x[2]) + x[0] ** 2],
    "exp_log": lambda x, m: [m.exp(x[0] - x[2]), m.log(1 + x[1] ** 2) * x[0], x[2] ** 3 / (1 + x[0] ** 2)],
    "sqrt_tanh": lambda x, m: [
        m.sqrt(x[0] ** 2 + x[1] ** 2 + 1) * m.tanh(x[2]),
        x[0] * x[1] * x[2],
        m.atan(x[1]),
    ],
}


class _Sg:
    """symgrad under the math-module names the SymPy versions use."""

    sin, cos, exp, log, sqrt, tanh, atan = sg.sin, sg.cos, sg.exp, sg.log, sg.sqrt, sg.tanh, sg.arctan


class _Np:
    sin, cos, exp, log, sqrt, tanh, atan = np.sin, np.cos, np.exp, np.log, np.sqrt, np.tanh, np.arctan


def _traced(name):
    components = FUNCTIONS[name]
    return lambda x: np.stack(components(x, _Sg))


def _numpy(name):
    components = FUNCTIONS[name]
    return lambda x: np.array(components(x, _Np))


def _sympy_jacobian(name, point):
    xs = sympy.symbols("x0:3")
    vector = sympy.Matrix(FUNCTIONS[name](xs, sympy))
    jac = vector.jacobian(sympy.Matrix(xs))
    values = {s: sympy.Float(v, 30) for s, v in zip(xs, point, strict=True)}
    return np.array(jac.evalf(30, subs=values).tolist(), dtype=np.float64)


def _central_differences(f, x, h=1e-6):
    columns = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e.flat[j] = h
        columns.append((f(x + e) - f(x - e)) / (2 * h))
    return np.stack(columns, axis=-1).reshape(np.shape(f(x)) + x.shape)


# ----- shapes -----


@pytest.mark.parametrize("jac", JACOBIANS)
def test_jacobian_shape_is_output_shape_plus_argument_shape(jac):
    def f(w):  # (2, 3) -> (4,)
        return np.stack([w.sum(), (w**2).sum(), np.sin(w[0, 1]), w[1, 2] * w[0, 0]])

    w = np.arange(6.0).reshape(2, 3)
    result = jac(f)(w)
    assert result.shape == (4, 2, 3)
    np.testing.assert_allclose(result[0], np.ones((2, 3)), rtol=0, atol=0)
    np.testing.assert_allclose(result[1], 2 * w, rtol=1e-15, atol=0)


@pytest.mark.parametrize("jac", JACOBIANS)
def test_jacobian_of_matrix_output_with_respect_to_vector(jac):
    x = np.array([0.5, -1.0, 2.0])
    result = jac(lambda x: np.outer(x, x))(x)
    assert result.shape == (3, 3, 3)
    expected = np.einsum("ik,j->ijk", np.eye(3), x) + np.einsum("i,jk->ijk", x, np.eye(3))
    np.testing.assert_allclose(result, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("jac", JACOBIANS)
def test_jacobian_scalar_cases(jac):
    # scalar -> scalar: a float
    d = jac(lambda x: x**3)(2.0)
    assert np.shape(d) == ()
    assert d == pytest.approx(12.0, rel=1e-15)
    # scalar -> vector: out.shape
    d = jac(lambda x: np.stack([x, x**2, np.sin(x)]))(0.5)
    assert d.shape == (3,)
    np.testing.assert_allclose(d, [1.0, 1.0, np.cos(0.5)], rtol=1e-15)
    # vector -> scalar: arg.shape (the gradient)
    x = np.array([1.0, 2.0, 3.0])
    d = jac(lambda x: (x**2).sum())(x)
    assert d.shape == (3,)
    np.testing.assert_allclose(d, 2 * x, rtol=1e-15)


@pytest.mark.parametrize("jac", JACOBIANS)
def test_jacobian_tuple_argnums_gives_one_block_per_argument(jac):
    def f(x, a, y):
        return np.stack([x[0] * y[1, 0], (x * x).sum() + a * y.sum()])

    x, y = np.array([1.0, 2.0]), np.array([[3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    jx, ja, jy = jac(f, argnums=(0, 1, 2))(x, 0.5, y)
    assert jx.shape == (2, 2) and np.shape(ja) == (2,) and jy.shape == (2, 2, 3)
    np.testing.assert_allclose(jx, [[y[1, 0], 0.0], [2 * x[0], 2 * x[1]]], rtol=1e-15)
    np.testing.assert_allclose(ja, [0.0, y.sum()], rtol=1e-15)
    expected_jy = np.zeros((2, 2, 3))
    expected_jy[0, 1, 0] = x[0]
    expected_jy[1] = 0.5
    np.testing.assert_allclose(jy, expected_jy, rtol=1e-15)
    # a single argnum in a tuple still gives a tuple
    (only,) = jac(f, argnums=(2,))(x, 0.5, y)
    np.testing.assert_allclose(only, expected_jy, rtol=1e-15)


# ----- values -----


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("jac", JACOBIANS)
def test_jacobian_matches_sympy_and_finite_differences(jac, name):
    rng = np.random.default_rng(sorted(FUNCTIONS).index(name))
    f = jac(_traced(name))
    for _ in range(3):
        x = rng.uniform(-1.5, 1.5, size=3)
        result = f(x)
        np.testing.assert_allclose(result, _sympy_jacobian(name, x), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(result, _central_differences(_numpy(name), x), rtol=1e-7, atol=1e-8)


def test_jacfwd_and_jacrev_agree_on_a_wide_and_a_tall_function():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(6, 2))

    def tall(x):  # R^2 -> R^6
        return np.tanh(a @ x)

    def wide(x):  # R^6 -> R^2
        return np.stack([np.sin(x).sum(), (x[:3] * x[3:]).sum()])

    x2, x6 = rng.normal(size=2), rng.normal(size=6)
    for f, x in [(tall, x2), (wide, x6)]:
        fwd, rev, auto = sg.jacfwd(f)(x), sg.jacrev(f)(x), sg.jacobian(f)(x)
        np.testing.assert_allclose(fwd, rev, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(auto, rev, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(auto, _central_differences(f, x), rtol=1e-7, atol=1e-8)


# ----- Hessians -----


def _rosenbrock(x, m=np):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def test_hessian_of_rosenbrock_6_equals_sympy_hessian():
    xs = sympy.symbols("x0:6")
    exact = sympy.hessian(_rosenbrock(xs), xs)
    rng = np.random.default_rng(1)
    point = rng.uniform(-2.0, 2.0, size=6)
    values = {s: sympy.Float(v, 30) for s, v in zip(xs, point, strict=True)}
    expected = np.array(exact.evalf(30, subs=values).tolist(), dtype=np.float64)
    result = sg.hessian(_rosenbrock)(point)
    assert result.shape == (6, 6)
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(result, result.T)


def test_hessian_shape_for_matrix_argument():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(2, 3))
    h = sg.hessian(lambda w: (w**3).sum() + w[0, 0] * w[1, 2])(w)
    assert h.shape == (2, 3, 2, 3)
    expected = np.diag(6 * w.ravel()).reshape(2, 3, 2, 3)
    expected[0, 0, 1, 2] = expected[1, 2, 0, 0] = 1.0
    np.testing.assert_allclose(h, expected, rtol=1e-14, atol=0)


def test_jacobian_of_grad_equals_hessian():
    rng = np.random.default_rng(3)

    def f(x):
        return _rosenbrock(x) + np.sin(x[0] * x[5]) * np.exp(x[2] / 4)

    for _ in range(3):
        x = rng.uniform(-1.0, 1.0, size=6)
        h = sg.hessian(f)(x)
        for jac in JACOBIANS:
            np.testing.assert_allclose(jac(sg.grad(f))(x), h, rtol=1e-13, atol=1e-12)


def test_hessian_tuple_argnums_and_scalar():
    assert sg.hessian(lambda x: np.sin(x) * x)(0.3) == pytest.approx(
        2 * np.cos(0.3) - 0.3 * np.sin(0.3), rel=1e-14
    )
    x, y = np.array([1.0, 2.0]), np.array([0.5, -1.0, 3.0])
    blocks = sg.hessian(lambda x, y: (x**2).sum() * y.sum(), argnums=(0, 1))(x, y)
    assert blocks[0][0].shape == (2, 2)
    assert blocks[0][1].shape == (2, 3)
    assert blocks[1][0].shape == (3, 2)
    assert blocks[1][1].shape == (3, 3)
    np.testing.assert_allclose(blocks[0][0], 2 * y.sum() * np.eye(2), rtol=1e-15)
    np.testing.assert_allclose(blocks[0][1], np.repeat(2 * x[:, None], 3, axis=1), rtol=1e-15)
    np.testing.assert_allclose(blocks[1][1], np.zeros((3, 3)), rtol=0, atol=0)

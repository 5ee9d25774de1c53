"""Branches and kinks, with JAX's conventions: derivatives at kinks, traced comparisons,
and `where` never leaking NaN or inf from the branch not taken (in every transformation)."""

import warnings

import numpy as np
import pytest

import symgrad as sg


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ----- kinks -----


def test_abs_has_derivative_one_and_relu_zero_at_zero():
    # JAX's convention: abs'(0) = 1, the derivative of the x >= 0 branch.
    assert sg.grad(sg.abs)(0.0) == 1.0
    assert sg.grad(lambda x: abs(x))(0.0) == 1.0
    assert sg.grad(np.abs)(0.0) == 1.0
    assert sg.grad(sg.relu)(0.0) == 0.0
    # and the usual values away from the kink
    assert sg.grad(sg.abs)(-2.0) == -1.0
    assert sg.grad(sg.abs)(3.0) == 1.0
    assert sg.grad(sg.relu)(-1.0) == 0.0
    assert sg.grad(sg.relu)(1.0) == 1.0
    x = np.array([-1.5, 0.0, 2.0])
    np.testing.assert_array_equal(sg.jacfwd(sg.abs)(x), np.diag([-1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(sg.jacrev(sg.relu)(x), np.diag([0.0, 0.0, 1.0]))


def test_hessians_of_smooth_functions_written_with_abs_are_right_at_zero():
    assert sg.hessian(lambda x: np.abs(x) ** 2)(0.0) == 2.0
    assert sg.hessian(lambda x: np.abs(x * x))(0.0) == 2.0
    assert sg.hessian(lambda x: abs(x) ** 2)(0.0) == 2.0
    h = sg.hessian(lambda x: np.abs(x[0] ** 2 + x[1] ** 2 + x[0] * x[1]))(np.zeros(2))
    np.testing.assert_array_equal(h, [[2.0, 1.0], [1.0, 2.0]])
    # away from 0, both branches still give the true Hessian
    np.testing.assert_array_equal(sg.hessian(lambda x: np.abs(x) ** 2)(-3.0), 2.0)


@pytest.mark.parametrize("op", [sg.maximum, sg.minimum, np.maximum, np.minimum], ids=lambda f: f.__name__)
def test_maximum_and_minimum_split_ties_evenly(op):
    d = sg.grad(lambda x, y: op(x, y), argnums=(0, 1))
    assert d(1.0, 1.0) == (0.5, 0.5)
    assert d(-3.0, -3.0) == (0.5, 0.5)
    # maximum(x, x) == x has derivative 1 (the two halves add up)
    assert sg.grad(lambda x: op(x, x))(2.0) == 1.0
    # away from ties, all of the derivative goes to the selected argument
    larger = (1.0, 0.0) if op in (sg.maximum, np.maximum) else (0.0, 1.0)
    assert d(2.0, 1.0) == larger
    assert d(1.0, 2.0) == larger[::-1]
    # forward mode agrees
    assert sg.jvp(lambda x, y: op(x, y), (1.0, 1.0), (1.0, 0.0))[1] == 0.5


def test_maximum_ties_elementwise_in_arrays():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0])
    gx, gy = sg.grad(lambda x, y: np.maximum(x, y).sum(), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(gy, [0.5, 1.0, 0.0])


@pytest.mark.parametrize(
    "op", [sg.sign, sg.floor, sg.ceil, np.sign, np.floor, np.ceil], ids=lambda f: f.__name__
)
def test_step_functions_have_derivative_zero(op):
    for point in [-1.5, -1.0, 0.0, 0.3, 2.0]:
        assert sg.grad(op)(point) == 0.0
    assert sg.grad(lambda x: op(x) * x)(2.5) == op(2.5)
    assert sg.grad(sg.grad(lambda x: op(x) * x**2))(2.5) == 2 * op(2.5)


# ----- comparisons and where -----


def test_comparisons_give_traced_booleans_usable_in_where():
    def f(x):
        above = x > 1.0
        below = x <= -1.0
        middle = sg.where(above, x**2, sg.where(below, -x, x**3))
        return np.where(x != 0.0, middle, 7.0 * x)

    values = {-2.0: (2.0, -1.0), 0.5: (0.125, 0.75), 3.0: (9.0, 6.0), 0.0: (0.0, 7.0), 1.0: (1.0, 3.0)}
    for point, (value, slope) in values.items():
        assert sg.jit(f)(point) == value
        assert sg.grad(f)(point) == slope
    x = np.array([-2.0, 0.5, 3.0])
    np.testing.assert_array_equal(sg.jit(f)(x), [2.0, 0.125, 9.0])
    np.testing.assert_array_equal(sg.jacobian(f)(x), np.diag([-1.0, 0.75, 6.0]))


@pytest.mark.parametrize("compare", ["<", "<=", ">", ">=", "==", "!="])
def test_every_comparison_selects_like_numpy(compare):
    operators = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
    }
    op = operators[compare]
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])
    result = sg.jit(lambda x, y: sg.where(op(x, y), x, -y))(x, y)
    np.testing.assert_array_equal(result, np.where(op(x, y), x, -y))


# ----- no NaN from the branch not taken -----


def _sqrt_branch(x):
    return sg.where(x > 0, sg.sqrt(x), 0.0)


def _linear_then_sqrt(x):
    return sg.where(x < 1, x, sg.sqrt(x))


def _log_branch(x):
    return sg.where(x > 0, sg.log(x), 0.0)


def _numpy_log_branch(x):
    return np.where(x > 0, np.log(x), 0.0)


# (function, point, first derivative, second derivative), all exact
SAFE_CASES = [
    (_sqrt_branch, -1.0, 0.0, 0.0),
    (_sqrt_branch, 0.0, 0.0, 0.0),
    (_sqrt_branch, 4.0, 0.25, -1.0 / 32.0),
    (_linear_then_sqrt, 0.0, 1.0, 0.0),
    (_linear_then_sqrt, -1.0, 1.0, 0.0),
    (_log_branch, -1.0, 0.0, 0.0),
    (_log_branch, 0.0, 0.0, 0.0),
    (_log_branch, 2.0, 0.5, -0.25),
    (_numpy_log_branch, -1.0, 0.0, 0.0),
    (_numpy_log_branch, 0.0, 0.0, 0.0),
]


@pytest.mark.parametrize("f, point, d1, d2", SAFE_CASES, ids=lambda v: getattr(v, "__name__", repr(v)))
def test_where_gradient_is_exact_in_every_transformation(f, point, d1, d2):
    assert sg.grad(f)(point) == d1
    assert sg.value_and_grad(f)(point)[1] == d1
    assert sg.jacfwd(f)(point) == d1
    assert sg.jacrev(f)(point) == d1
    assert sg.jvp(f, (point,), (1.0,))[1] == d1
    (cotangent,) = sg.vjp(f, np.array([point]))[1](np.ones(1))
    assert cotangent[0] == d1
    assert sg.hessian(f)(point) == d2
    assert sg.grad(sg.grad(f))(point) == d2
    batch = np.array([point, point, 9.0])
    derivatives = sg.vmap(sg.grad(f))(batch)
    assert derivatives[0] == d1 and derivatives[1] == d1
    assert np.isfinite(derivatives).all()


def test_where_gradient_on_arrays_has_no_nan():
    x = np.array([-3.0, -1.0, 0.0, 0.25, 4.0])
    expected = np.where(x > 0, 0.5 / np.sqrt(np.where(x > 0, x, 1.0)), 0.0)
    np.testing.assert_array_equal(sg.grad(lambda x: _sqrt_branch(x).sum())(x), expected)
    np.testing.assert_array_equal(sg.jacfwd(_sqrt_branch)(x), np.diag(expected))
    np.testing.assert_array_equal(
        sg.jacrev(_log_branch)(x), np.diag(np.where(x > 0, 1 / np.where(x > 0, x, 1), 0))
    )
    hessian = sg.hessian(lambda x: _log_branch(x).sum())(x)
    assert np.isfinite(hessian).all()
    np.testing.assert_array_equal(np.diag(hessian), np.where(x > 0, -1 / np.where(x > 0, x, 1) ** 2, 0))

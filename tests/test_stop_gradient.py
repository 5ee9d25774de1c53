"""`sg.stop_gradient` (PyTorch's `detach`): the value passes, the derivative does not."""

import numpy as np
import pytest

import symgrad as sg


def test_value_is_unchanged():
    assert sg.jit(lambda x: sg.stop_gradient(x))(1.25) == 1.25
    x = np.array([[-1.5, 0.0], [2.0, 3.5]])
    np.testing.assert_array_equal(sg.jit(lambda x: sg.stop_gradient(x) * 2)(x), 2 * x)
    # outside a trace it is the identity on numbers
    assert sg.stop_gradient(0.5) == 0.5
    np.testing.assert_array_equal(sg.stop_gradient(x), x)


def test_derivative_through_stop_gradient_is_zero():
    assert sg.grad(sg.stop_gradient)(3.0) == 0.0
    assert sg.grad(lambda x: sg.stop_gradient(x**2) + 0.0 * x)(3.0) == 0.0
    x = np.array([0.5, -2.0, 4.0])
    np.testing.assert_array_equal(sg.jacfwd(sg.stop_gradient)(x), np.zeros((3, 3)))
    np.testing.assert_array_equal(sg.jacrev(lambda x: np.sin(sg.stop_gradient(x)))(x), np.zeros((3, 3)))
    assert sg.jvp(lambda x: sg.stop_gradient(x) * 5.0, (2.0,), (1.0,)) == (10.0, 0.0)


def test_grad_of_x_times_stop_gradient_x_is_x():
    g = sg.grad(lambda x: x * sg.stop_gradient(x))
    for point in [-2.5, 0.0, 0.75, 3.0]:
        assert g(point) == point  # not 2 * x, as without stop_gradient
    x = np.array([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(sg.grad(lambda x: (x * sg.stop_gradient(x)).sum())(x), x)


def test_stop_gradient_inside_higher_order_derivatives():
    # d/dx [x**2 * c] = 2 x c with c = stop_gradient(x) held constant; again: 2 c = 2 x.
    f = lambda x: x**2 * sg.stop_gradient(x)  # noqa: E731
    assert sg.grad(f)(1.5) == pytest.approx(2 * 1.5 * 1.5, rel=1e-15)
    assert sg.grad(sg.grad(f))(1.5) == pytest.approx(2 * 1.5, rel=1e-15)
    assert sg.hessian(f)(1.5) == pytest.approx(2 * 1.5, rel=1e-15)


def test_only_the_stopped_path_is_cut():
    def f(x, y):
        return x * y + sg.stop_gradient(x * y) * x

    gx, gy = sg.grad(f, argnums=(0, 1))(2.0, 3.0)
    assert gx == 3.0 + 6.0  # y + stop_gradient(x y)
    assert gy == 2.0  # x only: the stopped product carries no derivative to y


def test_stop_gradient_of_a_normaliser_like_logsumexp():
    # the classic use: a detached shift changes nothing in value and nothing in the gradient
    def shifted(x):
        m = sg.stop_gradient(x.max())
        return np.log(np.exp(x - m).sum()) + m

    x = np.array([1.0, 2.0, 3.0])
    softmax = np.exp(x) / np.exp(x).sum()
    assert sg.jit(shifted)(x) == pytest.approx(np.log(np.exp(x).sum()), rel=1e-15)
    np.testing.assert_allclose(sg.grad(shifted)(x), softmax, rtol=1e-14)

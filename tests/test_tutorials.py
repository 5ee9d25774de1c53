"""The worked examples of PyTorch's autograd tutorials, through symgrad's public API.

Each value is derived by hand in the test; tolerances are stated where the
result is not exact.
"""

from __future__ import annotations

import warnings

import numpy as np

import symgrad as sg


def test_derivative_of_2x_squared_at_10_is_40():
    df = sg.grad(lambda x: 2 * x**2)
    assert df(10.0) == 40.0
    assert str(df.formula(10.0)) == "4*x"


def test_gradient_of_sum_of_2x_squared():
    x = np.array([10.0, 20.0])
    g = sg.grad(lambda x: (2 * x**2).sum())(x)
    assert isinstance(g, np.ndarray) and g.shape == (2,)
    np.testing.assert_array_equal(g, [40.0, 80.0])


def test_gradient_with_respect_to_two_arguments():
    g = sg.grad(lambda x1, x2: x1 + 2 * x2, argnums=(0, 1))(3.0, 5.0)
    assert g == (1.0, 2.0)


def test_gradient_with_one_element_argnums_tuple_is_a_tuple():
    df = sg.grad(lambda x, y: x * y, argnums=(0,))
    assert df(1.0, 2.0) == (2.0,)
    assert df(1.0, 2.0) == (2.0,)  # the second call takes the native float entry


def test_gradient_descent_on_x_squared_plus_20():
    # x <- x - lr * 2x, so after k steps x = 10 * (1 - 2 lr)**k = 10 * 0.98**k.
    df = sg.grad(lambda x: x**2 + 20)
    x, lr = 10.0, 0.01
    for _ in range(1000):
        x -= lr * df(x)
    np.testing.assert_allclose(x, 10 * 0.98**1000, rtol=1e-12, atol=0)


def test_linear_layer_mse_gradients_match_closed_form():
    rng = np.random.default_rng(0)
    x = np.ones((2, 5))
    w = rng.standard_normal((5, 3))
    b = rng.standard_normal(3)

    def loss(w, b):
        y = x @ w + b
        return ((y - np.zeros((2, 3))) ** 2).mean()

    # L = sum(y**2) / N with N = 6 outputs, so dL/dy = 2 y / N,
    # dL/dW = x.T @ dL/dy and dL/db = sum of dL/dy over the batch rows.
    y = x @ w + b
    dy = 2 * y / y.size
    dw, db = sg.grad(loss, argnums=(0, 1))(w, b)
    assert dw.shape == (5, 3) and db.shape == (3,)
    np.testing.assert_allclose(dw, x.T @ dy, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(db, dy.sum(axis=0), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(sg.jit(loss)(w, b), np.mean(y**2), rtol=1e-13)


def test_has_aux_returns_aux_undifferentiated():
    def f(x):
        return x**2, {"cube": x**3, "label": 7}

    g, aux = sg.grad(f, has_aux=True)(3.0)
    assert g == 6.0
    assert aux["cube"] == 27.0 and aux["label"] == 7

    (value, aux), g = sg.value_and_grad(f, has_aux=True)(3.0)
    assert (value, aux["cube"], g) == (9.0, 27.0, 6.0)


def test_value_and_grad():
    value, g = sg.value_and_grad(lambda x, y: x * y + np.sin(x))(2.0, 3.0)
    np.testing.assert_allclose(value, 6.0 + np.sin(2.0), rtol=1e-15)
    np.testing.assert_allclose(g, 3.0 + np.cos(2.0), rtol=1e-15)


def test_third_derivative_by_nesting_grad():
    d3 = sg.grad(sg.grad(sg.grad(lambda x: x**4 + sg.sin(x))))
    # d3/dx3 (x**4 + sin x) = 24 x - cos x
    np.testing.assert_allclose(d3(2.0), 48.0 - np.cos(2.0), rtol=1e-14)
    np.testing.assert_allclose(d3(-0.5), -12.0 - np.cos(-0.5), rtol=1e-14)


def test_where_does_not_leak_nan_from_the_branch_not_taken():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            assert sg.grad(lambda x: sg.where(x > 0, sg.sqrt(x), 0.0))(-1.0) == 0.0
            assert sg.grad(lambda x: sg.where(x < 1, x, sg.sqrt(x)))(0.0) == 1.0
            sqrt_or_zero = sg.value_and_grad(lambda x: sg.where(x > 0, sg.sqrt(x), 0.0))
            assert sqrt_or_zero(-1.0) == (0.0, 0.0)
            assert sqrt_or_zero(4.0) == (2.0, 0.25)
            x_or_sqrt = sg.value_and_grad(lambda x: sg.where(x < 1, x, sg.sqrt(x)))
            assert x_or_sqrt(0.0) == (0.0, 1.0)
            assert x_or_sqrt(4.0) == (2.0, 0.25)

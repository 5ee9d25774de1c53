"""The native CPython entry of compiled functions: same results as the general path, refuses what it cannot take."""

import numpy as np
import pytest

import symgrad as sg


def rosen(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


X = np.random.default_rng(3).uniform(-1, 1, 12)


def test_array_calls_take_the_native_path_and_agree_with_the_kernel():
    hessian = sg.hessian(rosen)
    first = hessian(X)
    assert hessian._fast is not None
    again = hessian(X)
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(again, hessian.compile(X)(X)[0])
    assert again is not first and again.flags["C_CONTIGUOUS"] and again.shape == (12, 12)


def test_scalar_results_of_array_calls_are_python_floats():
    f = sg.jit(rosen)
    f(X)
    assert type(f(X)) is float and f(X) == pytest.approx(float(rosen(X)), rel=1e-14)


@pytest.mark.parametrize("variant", [
    lambda x: x[::-1].copy()[::-1],                  # negative stride
    lambda x: np.stack([x, x])[:, ::1][0, :],       # a view into a larger array (still contiguous)
    lambda x: x.astype(np.float32),                  # another dtype
    lambda x: np.asarray(x).reshape(1, -1)[0],       # a reshaped view
])
def test_other_layouts_and_dtypes_give_the_same_numbers(variant):
    gradient = sg.grad(rosen)
    expected = gradient(X)
    np.testing.assert_allclose(gradient(variant(X)), expected, rtol=1e-6 if variant(X).dtype != np.float64 else 0)


def test_the_native_entry_refuses_what_it_cannot_take():
    kernel = sg.grad(rosen).compile(X)
    native = kernel.python_function()
    out = np.empty(12)
    assert native(X, out) is None
    np.testing.assert_array_equal(out, kernel(X)[0])
    assert native(X[::2].copy(), out) is NotImplemented            # wrong shape
    assert native(X.astype(np.float32), out) is NotImplemented     # wrong dtype
    assert native(X, np.empty(11)) is NotImplemented               # wrong output
    assert native(X) is NotImplemented                             # missing output
    assert native(list(X), out) is NotImplemented                  # not an array
    assert native(np.ascontiguousarray(X[::-1])[::-1], out) is NotImplemented  # not contiguous


def test_inputs_are_not_modified_on_the_native_path():
    x = X.copy()
    sg.grad(rosen)(x)
    sg.grad(rosen)(x)
    np.testing.assert_array_equal(x, X)

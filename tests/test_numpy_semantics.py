"""NumPy semantics of traced arrays: a precise spec for the array-level tracer (issue 8).

Each test states what NumPy (and JAX) do. Those the current tracer gets wrong are marked
`xfail(strict=True)`, so that they turn into failures, and are unmarked, when they pass.
"""

import math

import numpy as np
import pytest

import symgrad as sg

ARRAY_TRACER = pytest.mark.xfail(strict=True, reason="array-level tracer (issue 8)")
# NumPy builds `np.array([t0, t1])` itself (no protocol lets a library return its own array type from it),
# and its `np.max` of the object array it makes compares the elements in Python; JAX refuses it too.
NUMPY_OBJECT_ARRAYS = pytest.mark.xfail(strict=True, reason="np.max of an object array of traced values")

X = np.arange(1.0, 7.0).reshape(2, 3)


# ----- reductions with keepdims=True and axis=None keep every axis -----


@pytest.mark.parametrize("reduce", [np.sum, np.mean, np.max, np.min, np.prod], ids=lambda f: f.__name__)
def test_a_full_reduction_with_keepdims_keeps_every_axis_as_length_one(reduce):
    out = sg.jit(lambda x: reduce(x, keepdims=True))(X)
    assert np.shape(out) == (1, 1)
    np.testing.assert_allclose(out, reduce(X, keepdims=True), rtol=1e-12)


# ----- np.nan_to_num replaces NaN and infinities -----


def test_nan_to_num_of_a_traced_array_replaces_nan_and_infinities():
    x = np.array([1.0, np.nan, np.inf, -np.inf])
    out = sg.jit(lambda x: np.nan_to_num(x * 1.0))(x)
    np.testing.assert_array_equal(out, np.nan_to_num(x))


# ----- second derivative of logaddexp -----


def test_second_derivative_of_logaddexp_is_the_logistic_density():
    # d/da logaddexp(a, 0) = sigmoid(a); d2/da2 = sigmoid(a) * (1 - sigmoid(a)) = 0.25 at 0 (JAX: 0.25)
    assert sg.grad(sg.grad(lambda a: np.logaddexp(a, 0.0)))(0.0) == pytest.approx(0.25, rel=1e-15)
    s = 1.0 / (1.0 + math.exp(-1.5))
    assert sg.grad(sg.grad(lambda a: np.logaddexp(a, 0.0)))(1.5) == pytest.approx(s * (1 - s), rel=1e-12)


# ----- np.array / np.asarray of traced scalars -----


@NUMPY_OBJECT_ARRAYS
def test_np_array_of_traced_scalars_is_a_traced_array():
    def f(x):
        v = np.array([x[0] * x[1], x[1] + 1.0])
        return np.max(v) + np.sqrt(v).sum() + np.sin(v).sum()

    x = np.array([2.0, 3.0])
    np.testing.assert_allclose(sg.jit(f)(x), f(x), rtol=1e-12)
    v = np.array([6.0, 4.0])
    expected = np.array([3.0, 2.0]) * (1 + 0.5 / np.sqrt(6.0) + np.cos(6.0)) \
        + np.array([0.0, 1.0]) * (0.5 / np.sqrt(4.0) + np.cos(4.0))
    np.testing.assert_allclose(sg.grad(f)(x), expected, rtol=1e-12)
    assert v.max() == 6.0


@NUMPY_OBJECT_ARRAYS
def test_np_asarray_of_numbers_and_traced_scalars_is_a_traced_array():
    # SciPy's `Cola` benchmark function builds its vectors this way
    def f(x):
        v = np.asarray([1.0, x[0], x[1] ** 2])
        return np.sqrt(np.sum(v ** 2)) + np.max(v)

    x = np.array([0.5, 2.0])
    np.testing.assert_allclose(sg.jit(f)(x), f(x), rtol=1e-12)


# ----- unsupported NumPy functions: work, or say so by name with what to use instead -----


def _works_or_is_refused_by_name(f, x, name):
    """Either `f` traces and agrees with NumPy, or it raises an error naming `name` as unsupported."""
    try:
        got = sg.jit(f)(x)
    except Exception as e:  # judged by its message below
        message = str(e)
        assert f"`{name}` is not supported by symgrad" in message, message
        assert "instead" in message or "use" in message, message
        return
    np.testing.assert_allclose(got, f(x), rtol=1e-12)


UNSUPPORTED = [
    ("np.sort", lambda x: np.sort(x)),
    ("np.argmax", lambda x: x[np.argmax(x)]),
    ("math.sin", lambda x: math.sin(x[0]) + x[1]),
    ("np.round", lambda x: np.round(x) * x),
    ("np.var", lambda x: np.var(x)),
    ("np.linalg.inv", lambda x: np.linalg.inv(x.reshape(2, 2)).sum()),
    ("x.std", lambda x: x.std()),
]


@pytest.mark.parametrize("name, f", UNSUPPORTED, ids=[n for n, _ in UNSUPPORTED])
def test_an_unsupported_numpy_function_works_or_is_refused_by_name(name, f):
    _works_or_is_refused_by_name(f, np.array([3.0, 1.0, 4.0, 1.5]), name)


# ----- what already holds -----


def test_reductions_over_an_axis_with_keepdims_keep_that_axis():
    for reduce in (np.sum, np.mean, np.max, np.min, np.prod):
        out = sg.jit(lambda x, reduce=reduce: reduce(x, axis=1, keepdims=True))(X)
        np.testing.assert_allclose(out, reduce(X, axis=1, keepdims=True), rtol=1e-12)


def test_first_derivative_of_logaddexp_is_the_sigmoid():
    assert sg.grad(lambda a: np.logaddexp(a, 0.0))(0.0) == pytest.approx(0.5, rel=1e-15)


# ----- indexing with an ellipsis, and array methods that are NumPy functions -----

CUBE = np.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize("index", [
    (Ellipsis, 0), (Ellipsis, None), (0, Ellipsis, slice(1, None)), (None, Ellipsis, None, 2), Ellipsis,
    (1, Ellipsis), (Ellipsis, slice(None, None, -1)),
], ids=str)
def test_an_index_with_an_ellipsis_picks_what_numpy_picks(index):
    out = sg.jit(lambda x: x[index])(CUBE)
    assert np.shape(out) == CUBE[index].shape
    np.testing.assert_array_equal(out, CUBE[index])


@pytest.mark.parametrize("method", [
    lambda x: x.trace(), lambda x: x.take([0, 2], axis=1), lambda x: x.repeat(2, axis=0),
    lambda x: x.real + x.imag, lambda x: np.partition(x, 1, axis=1),
], ids=["trace", "take", "repeat", "real_imag", "np.partition"])
def test_array_methods_that_are_numpy_functions_are_traced(method):
    x = CUBE[0] ** 1.5
    np.testing.assert_allclose(sg.jit(method)(x), method(x), rtol=1e-12)
    gradient = sg.grad(lambda x: (method(x) ** 2).sum())(x)
    assert gradient.shape == x.shape and np.all(np.isfinite(gradient))


def test_in_place_methods_say_what_to_use_instead():
    for method, advice in [("sort", "np.sort"), ("partition", "np.partition")]:
        with pytest.raises(sg.TracingError, match=advice):
            sg.jit(lambda x: getattr(x, method)(1))(CUBE[0])  # noqa: B023  (called in this iteration)

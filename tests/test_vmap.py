"""`vmap`: agreement with a Python loop, `in_axes`/`out_axes`, empty and strided batches,
errors, one native call for a million points, and the unrolled path inside `grad`."""

import numpy as np
import pytest

import symgrad as sg
from symgrad.runtime import Kernel

# The batch loop may use vector math (libmvec), a few ulps away from the scalar libm calls.
BATCH_RTOL, BATCH_ATOL = 1e-13, 1e-15


def _f(x, y):  # (3,), () -> (2,)
    return np.stack([np.sin(x).sum() * y, (x**2).sum() - np.exp(y) * x[0]])


def _loop(f, *args):
    return np.stack([np.asarray(f(*row)) for row in zip(*args, strict=True)])


def test_vmap_equals_a_python_loop():
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(7, 3)), rng.normal(size=7)
    np.testing.assert_allclose(
        sg.vmap(_f)(xs, ys), _loop(sg.jit(_f), xs, ys), rtol=BATCH_RTOL, atol=BATCH_ATOL
    )
    np.testing.assert_allclose(sg.vmap(_f)(xs, ys), _loop(_f, xs, ys), rtol=BATCH_RTOL, atol=BATCH_ATOL)


def test_vmap_of_grad_and_of_jacobian_equal_python_loops():
    rng = np.random.default_rng(1)
    xs, ys = rng.normal(size=(5, 3)), rng.normal(size=5)
    g = sg.grad(lambda x, y: _f(x, y).sum(), argnums=(0, 1))
    gx, gy = sg.vmap(g)(xs, ys)
    assert gx.shape == (5, 3) and gy.shape == (5,)
    for k in range(5):
        ex, ey = g(xs[k], ys[k])
        np.testing.assert_allclose(gx[k], ex, rtol=BATCH_RTOL, atol=BATCH_ATOL)
        assert gy[k] == pytest.approx(ey, rel=BATCH_RTOL)
    jac = sg.jacobian(_f)
    np.testing.assert_allclose(sg.vmap(jac)(xs, ys), _loop(jac, xs, ys), rtol=BATCH_RTOL, atol=BATCH_ATOL)


def test_in_axes_none_shares_an_argument():
    rng = np.random.default_rng(2)
    xs, y = rng.normal(size=(4, 3)), 0.25
    result = sg.vmap(_f, in_axes=(0, None))(xs, y)
    np.testing.assert_allclose(result, _loop(sg.jit(_f), xs, [y] * 4), rtol=BATCH_RTOL, atol=BATCH_ATOL)
    w = rng.normal(size=(2, 3))
    shared = sg.vmap(lambda w, x: w @ x, in_axes=(None, 0))(w, xs)
    np.testing.assert_allclose(shared, xs @ w.T, rtol=1e-14, atol=1e-15)


def test_in_axes_1_maps_over_columns():
    rng = np.random.default_rng(3)
    xs, ys = rng.normal(size=(3, 6)), rng.normal(size=6)
    result = sg.vmap(_f, in_axes=(1, 0))(xs, ys)
    assert result.shape == (6, 2)
    np.testing.assert_allclose(result, _loop(sg.jit(_f), xs.T, ys), rtol=BATCH_RTOL, atol=BATCH_ATOL)
    # in_axes=1 for every argument, as one int
    a, b = rng.normal(size=(2, 5)), rng.normal(size=(4, 5))
    outer = sg.vmap(lambda a, b: np.outer(a, b), in_axes=1)(a, b)
    np.testing.assert_allclose(outer, np.einsum("in,jn->nij", a, b), rtol=BATCH_RTOL, atol=BATCH_ATOL)


def test_out_axes_moves_the_batch_axis():
    rng = np.random.default_rng(4)
    xs = rng.normal(size=(5, 3))
    outer = sg.vmap(lambda x: np.outer(x, x[:2]), out_axes=1)(xs)
    assert outer.shape == (3, 5, 2)
    np.testing.assert_allclose(
        outer, np.einsum("ni,nj->inj", xs, xs[:, :2]), rtol=BATCH_RTOL, atol=BATCH_ATOL
    )
    last = sg.vmap(lambda x: x * 2, out_axes=-1)(xs)
    np.testing.assert_allclose(last, 2 * xs.T, rtol=0, atol=0)


def test_empty_batch_returns_empty_results_of_the_right_shape():
    empty = np.zeros((0, 3))
    out = sg.vmap(_f)(empty, np.zeros(0))
    assert isinstance(out, np.ndarray) and out.shape == (0, 2)
    assert sg.vmap(lambda x: (x**2).sum())(empty).shape == (0,)
    assert sg.vmap(sg.grad(lambda x: (x**2).sum()))(empty).shape == (0, 3)
    assert sg.vmap(lambda x: np.outer(x, x), out_axes=2)(empty).shape == (3, 3, 0)
    assert sg.vmap(_f, in_axes=(1, None))(np.zeros((3, 0)), 1.0).shape == (0, 2)


def test_strided_and_transposed_inputs():
    rng = np.random.default_rng(5)
    big = rng.normal(size=(20, 7))
    cases = [
        (big[::3, 1:4], big[::3, 5]),  # row and column slices
        (big[::-2, :3], big[::-2, 6]),  # negative strides
        (big[:3, :9].T.copy().T.T, big[2, :9]),  # a transposed view, batch along big's axis 1
        (np.asfortranarray(big[:8, :3]), np.ascontiguousarray(big[:8, 4])),
    ]
    for xs, ys in cases:
        assert xs.shape[1] == 3 and xs.shape[0] == ys.shape[0]
        expected = _loop(sg.jit(_f), np.ascontiguousarray(xs), np.ascontiguousarray(ys))
        np.testing.assert_allclose(sg.vmap(_f)(xs, ys), expected, rtol=BATCH_RTOL, atol=BATCH_ATOL)
    # in_axes=1 on a transposed view reads the original rows
    rows = big[:6, :3]
    np.testing.assert_allclose(
        sg.vmap(_f, in_axes=(1, 0))(rows.T, big[:6, 3]),
        _loop(sg.jit(_f), rows, big[:6, 3]),
        rtol=BATCH_RTOL,
        atol=BATCH_ATOL,
    )


def test_inconsistent_batch_sizes_raise_value_error():
    with pytest.raises(ValueError, match="inconsistent"):
        sg.vmap(_f)(np.ones((4, 3)), np.ones(5))
    with pytest.raises(ValueError, match="inconsistent"):
        sg.vmap(_f, in_axes=(1, 0))(np.ones((3, 4)), np.ones(3))
    with pytest.raises(ValueError):
        sg.vmap(_f, in_axes=(0, 0, 0))(np.ones((4, 3)), np.ones(4))


def test_vmap_grad_over_a_million_points_is_one_native_call(monkeypatch):
    traces = []

    def f(x, y):
        traces.append(1)
        return np.sin(x) * y + x**2 * np.exp(-y) + np.sqrt(1 + x**2 + y**2)

    batch_calls = []
    original = Kernel.batch

    def counting_batch(self, args, batched, n):
        batch_calls.append(n)
        return original(self, args, batched, n)

    monkeypatch.setattr(Kernel, "batch", counting_batch)
    rng = np.random.default_rng(6)
    n = 1_000_000
    x, y = rng.uniform(-2, 2, size=n), rng.uniform(-2, 2, size=n)
    gx, gy = sg.vmap(sg.grad(f, argnums=(0, 1)))(x, y)
    assert batch_calls == [n]  # one kernel call for the whole batch ...
    assert len(traces) == 1  # ... and the Python function traced once, not run per point
    r = np.sqrt(1 + x**2 + y**2)
    np.testing.assert_allclose(gx, np.cos(x) * y + 2 * x * np.exp(-y) + x / r, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(gy, np.sin(x) - x**2 * np.exp(-y) + y / r, rtol=1e-13, atol=1e-14)


def test_vmap_inside_grad_unrolls_and_differentiates():
    rng = np.random.default_rng(7)

    def loss(w, xs):
        predictions = sg.vmap(lambda x: np.tanh(w @ x), in_axes=0)(xs)
        return (predictions**2).sum()

    w, xs = rng.normal(size=3), rng.normal(size=(5, 3))
    z = np.tanh(xs @ w)
    expected = (2 * z * (1 - z**2)) @ xs
    np.testing.assert_allclose(sg.grad(loss)(w, xs), expected, rtol=1e-13, atol=1e-14)

    # with respect to the batched argument, and with a shared argument inside
    def loss2(xs, c):
        return sg.vmap(lambda x, c: (x**3).sum() * c, in_axes=(0, None))(xs, c).sum()

    gxs, gc = sg.grad(loss2, argnums=(0, 1))(xs, 1.5)
    np.testing.assert_allclose(gxs, 3 * xs**2 * 1.5, rtol=1e-14)
    assert gc == pytest.approx((xs**3).sum(), rel=1e-13)


def test_vmap_over_constants_inside_grad_may_close_over_traced_values():
    table = np.arange(6.0).reshape(2, 3)

    def f(v):  # the mapped argument is a constant; the function closes over the traced `v`
        return (sg.vmap(lambda row: row * v[0] + v[1] ** 2, out_axes=1)(table) ** 2).sum()

    v = np.array([2.0, 0.5])
    rows = table * v[0] + v[1] ** 2
    expected = np.array([(2 * rows * table).sum(), (2 * rows * 2 * v[1]).sum()])
    np.testing.assert_allclose(sg.grad(f)(v), expected, rtol=1e-14, atol=0)


def test_vmap_of_grad_with_an_unmapped_tuple_argument_keeps_its_leaves_apart():
    f = lambda p, x: p[0] * p[1] * x[0]  # noqa: E731
    d0, d1 = sg.vmap(sg.grad(f), in_axes=(None, 0))((2.0, 3.0), np.array([[1.0], [2.0]]))
    np.testing.assert_array_equal(d0, [3.0, 6.0])
    np.testing.assert_array_equal(d1, [2.0, 4.0])


def test_nested_gradient_with_respect_to_a_tuple_argument():
    f = lambda p: p[0] ** 2 * p[1]  # noqa: E731
    outer = sg.grad(lambda p: sg.grad(f)(p)[0] + sg.grad(f)(p)[1])  # d/dp (2 p0 p1 + p0²)
    assert outer((2.0, 3.0)) == (2 * 3.0 + 2 * 2.0, 2 * 2.0)

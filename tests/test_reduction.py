"""Reductions over data rows: `vmap` over concrete data inside a traced function, then sum/mean."""

import warnings

import numpy as np
import pytest

import symgrad as sg
from symgrad.reduction import RowMap

RNG = np.random.default_rng(7)
X = RNG.normal(size=(1003, 3))  # not a multiple of any vector width: the last block is partial
Y = X @ np.array([1.0, -2.0, 0.5]) + 0.25 + 0.1 * RNG.normal(size=1003)
W = np.array([0.3, -0.1, 0.2, 0.05])


def squared_error(w, x, y):
    return (x @ w[:3] + w[3] - y) ** 2


def mean_loss(w):
    return sg.vmap(squared_error, in_axes=(None, 0, 0))(w, X, Y).mean()


def numpy_mean_loss(w):
    return np.mean((X @ w[:3] + w[3] - Y) ** 2)


def numpy_mean_grad(w):
    r = X @ w[:3] + w[3] - Y
    return np.concatenate([2 * (r[:, None] * X).mean(0), [2 * r.mean()]])


def test_the_map_stays_a_row_expression_inside_a_trace():
    seen = []
    sg.jit(lambda w: seen.append(sg.vmap(squared_error, in_axes=(None, 0, 0))(w, X, Y)) or 0.0)(W)
    assert isinstance(seen[0], RowMap) and seen[0].shape == (1003,)


def test_value_and_gradient_of_a_mean_loss_match_numpy():
    value, grad = sg.value_and_grad(mean_loss)(W)
    assert value == pytest.approx(numpy_mean_loss(W), rel=1e-13)
    np.testing.assert_allclose(grad, numpy_mean_grad(W), rtol=1e-12, atol=1e-14)


def test_gradient_matches_central_differences():
    eps = 1e-6
    fd = [(numpy_mean_loss(W + eps * e) - numpy_mean_loss(W - eps * e)) / (2 * eps) for e in np.eye(4)]
    np.testing.assert_allclose(sg.grad(mean_loss)(W), fd, rtol=1e-6, atol=1e-9)


def test_hessian_of_a_mean_loss_is_the_normal_matrix():
    A = np.hstack([X, np.ones((len(X), 1))])
    np.testing.assert_allclose(sg.hessian(mean_loss)(W), 2 * A.T @ A / len(X), rtol=1e-12, atol=1e-14)


def test_reduction_kernel_inside_vmap_matches_point_calls():
    grad = sg.grad(mean_loss)
    points = RNG.normal(size=(5, 4))
    np.testing.assert_allclose(sg.vmap(grad)(points), [grad(p) for p in points], rtol=1e-12)


def test_sum_over_rows_of_vector_outputs_and_arithmetic_with_per_row_data():
    weights = RNG.uniform(0.5, 2.0, size=len(X))

    def weighted(w):
        rows = sg.vmap(lambda w, x: x * w[:3], in_axes=(None, 0))(w, X)  # (1003, 3)
        return (rows.sum(axis=0) ** 2).sum() + (sg.vmap(lambda w, x: x @ w[:3], in_axes=(None, 0))(w, X)
                                               * weights).mean()

    def by_hand(w):
        return ((X * w[:3]).sum(0) ** 2).sum() + ((X @ w[:3]) * weights).mean()

    assert sg.jit(weighted)(W) == pytest.approx(by_hand(W), rel=1e-12)
    eps = 1e-6
    fd = [(by_hand(W + eps * e) - by_hand(W - eps * e)) / (2 * eps) for e in np.eye(4)]
    np.testing.assert_allclose(sg.grad(weighted)(W), fd, rtol=1e-6, atol=1e-8)


def test_formula_shows_the_sum_over_rows():
    text = str(sg.jit(mean_loss).formula(W))
    assert "Sum(" in text and "x[i, 0]" in text and "y[i]" in text and "(i, 0, 1002)" in text


def test_interpreter_agrees_with_the_compiled_reduction():
    from symgrad.evaluate import evaluate

    graph = sg.grad(mean_loss).formula(W).graph
    values = dict(zip(graph.inputs, W))
    np.testing.assert_allclose(evaluate(list(graph.outputs), values), sg.grad(mean_loss)(W), rtol=1e-12)


def test_where_in_a_reduction_does_not_leak_nan():
    data = np.array([-1.0, 0.0, 4.0, 9.0, -2.0])

    def f(a):
        return sg.vmap(lambda a, x: sg.where(x > 0, a * np.sqrt(x), 0.0), in_axes=(None, 0))(a, data).sum()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sg.grad(f)(2.0) == 5.0


def test_other_uses_of_a_large_map_are_batched_as_array_code_not_unrolled():
    # Once refused (it would have unrolled one copy per row); batched, the graph has one copy.
    big = np.arange(20_001.0).reshape(-1, 1)
    assert sg.jit(lambda w: sg.vmap(lambda w, x: x[0] * w, in_axes=(None, 0))(w, big)[3])(2.0) == 6.0


def test_other_uses_of_a_small_map_are_batched():
    data = np.arange(4.0)
    f = sg.jit(lambda w: sg.vmap(lambda w, x: x * w, in_axes=(None, 0))(w, data)[2])
    assert f(3.0) == 6.0


def test_kernels_with_sums_over_data_refuse_c_export_and_pickling_with_advice():
    import pickle

    from symgrad.errors import UnsupportedPrimitiveError

    gradient = sg.grad(mean_loss)
    with pytest.raises(UnsupportedPrimitiveError, match="sum over data"):
        gradient.formula(W).c()
    with pytest.raises(TypeError, match="pickle the function and the data"):
        pickle.dumps(gradient.compile(W))


def test_the_gradient_of_a_sum_over_data_wrt_a_matrix_grows_with_the_matrix_not_its_square(monkeypatch):
    # Each row sum reads the matrix element by element; the adjoints of those reads must become one
    # scatter per matrix (a sum of one scatter per element would be a graph of size n²).
    import symgrad.lowering as lowering
    from symgrad.scalarize import scalar_size

    rng = np.random.default_rng(3)
    data = rng.normal(size=(50, 24))
    W = rng.normal(size=(24, 24)) / 5
    sizes = []
    original = lowering.lower
    monkeypatch.setattr(lowering, "lower", lambda graph, name: sizes.append(scalar_size(graph.outputs))
                        or original(graph, name))
    g = sg.grad(lambda W: sg.vmap(lambda x: np.tanh(x @ W).sum(), in_axes=0)(data).mean())
    got = g(W)
    expected = data.T @ (1 - np.tanh(data @ W) ** 2) / len(data)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert sizes and sizes[0] < 20 * W.size


# ----- arithmetic on maps: the rows and the unrolled map say the same -----

Z = RNG.normal(size=(7, 3))  # few rows, so that unrolled maps stay small


def _score(w):
    return sg.vmap(lambda row: row @ w)(Z)


COMBINED = {
    "two maps from two vmaps": (lambda w: _score(w) + 2.0 * _score(w), lambda z: 3.0 * z),
    "a ufunc of a map and a number": (lambda w: np.maximum(_score(w), 0.5) + np.power(2.0, _score(w)),
                                      lambda z: np.maximum(z, 0.5) + 2.0 ** z),
    "a negated map": (lambda w: -_score(w) + _score(w) ** 2, lambda z: -z + z ** 2),
    "one entry per row": (lambda w: _score(w) * np.arange(7.0), lambda z: z * np.arange(7.0)),
    # (2, 7) against the map's (7,): NumPy broadcasts the map along the constant's first axis
    "a constant of higher rank than a row": (lambda w: _score(w) * np.ones((2, 7)), lambda z: z * np.ones((2, 7))),
}


@pytest.mark.parametrize("name", list(COMBINED))
def test_arithmetic_on_maps_gives_what_numpy_gives_on_the_arrays(name):
    traced, numpy_form = COMBINED[name]
    w = np.array([0.3, -0.7, 0.4])
    z = Z @ w
    np.testing.assert_allclose(sg.jit(traced)(w), numpy_form(z), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sg.jit(lambda w: traced(w).mean())(w), numpy_form(z).mean(), rtol=1e-12)
    gradient = sg.grad(lambda w: traced(w).mean())(w)
    np.testing.assert_allclose(gradient, _central_gradient(lambda w: numpy_form(Z @ w).mean(), w), rtol=1e-6)


def test_a_large_row_combined_with_a_number_is_summed_with_the_number():
    # A large row is summed as array code over all rows: the unrolled map must carry the `** 2`.
    W1, W2 = RNG.normal(size=(3, 150)) / 3, RNG.normal(size=(150, 40)) / 12
    net = sg.vmap(lambda row: np.tanh(row @ W1) @ W2)
    value = sg.jit(lambda s: ((s * net(Z)) ** 2).mean())(1.5)
    np.testing.assert_allclose(value, ((1.5 * (np.tanh(Z @ W1) @ W2)) ** 2).mean(), rtol=1e-12)


def _central_gradient(f, x, h=1e-6):
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))])


@pytest.mark.parametrize("budget", ["inf", "0"], ids=["scalar", "loops"])
def test_the_hessian_of_a_mean_over_data_in_either_lowering(monkeypatch, budget):
    # Under loops, the sums over rows are scalar steps of the loop kernel, reading the data by symbol.
    from symgrad import lowering

    monkeypatch.setattr(lowering, "_FORCED", budget)
    data = np.eye(4) * 0.5 + 0.1
    M = np.random.default_rng(4).normal(size=(4, 4))
    f = lambda a: sg.vmap(lambda row: np.tanh(row @ a).sum())(data).mean()  # noqa: E731

    def gradient(a):
        return data.T @ (1 - np.tanh(data @ a) ** 2) / len(data)

    H = sg.hessian(f)(M).reshape(16, 16)
    assert sg.hessian(f).formula(M).lowering == ("loops" if budget == "0" else "scalar")
    expected = np.column_stack([_central_gradient(lambda a, k=k: gradient(a.reshape(4, 4)).ravel()[k], M.ravel())
                                for k in range(16)]).T
    np.testing.assert_allclose(H, expected, rtol=1e-6, atol=1e-8)

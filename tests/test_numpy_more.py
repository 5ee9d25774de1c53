"""The NumPy functions of `symgrad.numpy_more` (and the rounding primitives) on traced arrays.

Each case is checked three ways: its value against NumPy's, in both
lowerings (scalars and loops); its gradient in both lowerings against each
other; its derivatives against finite differences (`check_grads`, second
order where the function is smooth at the point).
"""

import numpy as np
import pytest

import symgrad as sg
import symgrad.lowering as lowering
from symgrad.testing import check_grads

RNG = np.random.default_rng(7)
V = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.6, -1.0])  # distinct values, none tied
M = RNG.normal(size=(3, 5))
W = np.arange(1.0, 6.0)

CASES = {
    # name: (function, argument, derivative order checked)
    "remainder": (lambda x: (x % 1.7 + 5.0 % (x + 9.5)).sum(), V, 2),
    "fmod": (lambda x: np.fmod(x, -1.7).sum() + np.fmod(3.1 * x, x + 10.0).sum(), V, 2),
    "floor_divide": (lambda x: (x // 0.7 * x).sum(), V, 2),
    "divmod": (lambda x: (divmod(x, 1.1)[0] * divmod(x, 1.1)[1]).sum(), V, 1),
    "round": (lambda x: (np.round(x * 1.37, 1) * x).sum() + np.round(x * 3.1).sum(), V, 2),
    "around_negative": (lambda x: (np.around(x * 137.0, -1) * x).sum(), V, 1),
    "rint_fix_trunc": (lambda x: (np.rint(x * 2.3) * x + np.fix(x * 1.3) + np.trunc(x * 2.1)).sum(), V, 2),
    "var_ddof": (lambda x: np.var(x, axis=1, ddof=1).sum() + x.std(ddof=2), M, 2),
    "average": (lambda x: np.average(x, axis=1, weights=W).sum(), M, 2),
    "average_returned": (lambda x: np.average(x ** 2, weights=x * 0 + 2.0, returned=True)[0], M, 2),
    "sort": (lambda x: (np.sort(x) * np.arange(7.0)).sum(), V, 2),
    "sort_axis0": (lambda x: (np.sort(x, axis=0) ** 2 * M).sum(), M, 2),
    "partition": (lambda x: np.partition(x, 3)[3] + np.partition(x, 5)[5:].sum(), V, 2),
    "median": (lambda x: np.median(x) + np.median(x[:6]), V, 2),
    "cumprod": (lambda x: np.cumprod(x).sum() + np.cumprod(M * x[:5], axis=1).sum(), V, 2),
    "diff": (lambda x: (np.diff(x, 2, prepend=1.0, append=x[0]) ** 2).sum(), V, 2),
    "diff_axis0": (lambda x: (np.diff(x, axis=0) * np.sin(x[1:])).sum(), M, 2),
    "gradient": (lambda x: (np.gradient(x, 0.5) ** 2).sum() + (np.gradient(x, edge_order=2) ** 3).sum(), V, 2),
    "gradient_coordinates": (lambda x: (np.gradient(x, np.cumsum(np.arange(1.0, 8.0)), edge_order=2) ** 2).sum(),
                             V, 2),
    "gradient_2d": (lambda x: sum((g ** 2).sum() for g in np.gradient(x, 0.3, 2.0)), M, 2),
    "fmax_fmin": (lambda x: (np.fmax(x, 2.0) + np.fmin(x, np.nan) * x).sum(), V, 2),
    "sinc": (lambda x: (np.sinc(x * 0.3) + np.sinc(x * 1e-3)).sum(), V, 2),
    "angle": (lambda x: (np.angle(x) + np.angle(x, deg=True) + x).sum(), V, 2),
    "logaddexp2": (lambda x: np.logaddexp2(x, 1.0).sum(), V, 2),
    "clip": (lambda x: np.clip(x, 0.0, 3.5).sum() * x[0], V, 2),
    "diagonal_diag_triangles": (lambda x: (np.diagonal(x, 1) ** 2).sum() + x.diagonal().sum() + np.diag(x, -1).sum()
                                + (np.diag(x[0, 1:], 1) @ np.tril(M.T @ M, -1) * np.triu(M.T @ M)).sum(), M, 2),
    "list_of_traced_scalars": (lambda x: np.sum(np.sin(np.array([x[0], x[1] * x[2]]))) + np.append([x[0]], x).sum(),
                               V, 2),
}


def _value(name, budget, monkeypatch, transform=sg.jit):
    monkeypatch.setattr(lowering, "_FORCED", budget)
    f, x, _ = CASES[name]
    return transform(f)(x)


@pytest.mark.parametrize("name", sorted(CASES))
def test_value_matches_numpy_in_both_lowerings(name, monkeypatch):
    f, x, _ = CASES[name]
    with np.errstate(all="ignore"):
        expected = f(x)
    for budget in ("inf", "0"):
        np.testing.assert_allclose(_value(name, budget, monkeypatch), expected, rtol=1e-12, atol=1e-12,
                                   err_msg=f"lowering budget {budget}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_is_the_same_in_both_lowerings(name, monkeypatch):
    scalar = _value(name, "inf", monkeypatch, sg.grad)
    loops = _value(name, "0", monkeypatch, sg.grad)
    np.testing.assert_allclose(loops, scalar, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_derivatives_match_finite_differences(name):
    f, x, order = CASES[name]
    check_grads(f, (x,), order=order, modes=("rev",), eps=1e-6)


def test_sort_gradient_is_the_permutation():
    # d sorted[k] / d x[j] = 1 where x[j] is the k-th smallest
    jacobian = sg.jacobian(np.sort)(V)
    np.testing.assert_array_equal(jacobian, np.eye(V.size)[np.argsort(V)])


def test_sort_ties_share_the_derivative_evenly():
    x = np.array([2.0, 1.0, 2.0])
    np.testing.assert_allclose(sg.grad(lambda x: np.sort(x)[2])(x), [0.5, 0.0, 0.5])
    np.testing.assert_allclose(sg.grad(lambda x: np.sort(x).sum())(x), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("n", [1, 2, 5, 16, 33])
def test_sort_sorts_any_length(n):
    x = RNG.normal(size=n)
    np.testing.assert_array_equal(sg.jit(np.sort)(x), np.sort(x))


def test_sinc_derivatives_at_zero():
    # sinc(x) = 1 - (pi x)^2/6 + ...: sinc'(0) = 0, sinc''(0) = -pi^2/3
    assert sg.grad(np.sinc)(0.0) == 0.0
    assert sg.grad(sg.grad(np.sinc))(0.0) == pytest.approx(-np.pi**2 / 3, rel=1e-14)
    x = np.array([0.0, 0.1, 0.16, 0.2, 3.0])
    np.testing.assert_allclose(sg.jit(np.sinc)(x), np.sinc(x), rtol=1e-15)


def test_rounding_has_zero_derivative_as_in_jax():
    assert sg.grad(lambda x: np.round(x) + np.rint(x) + np.trunc(x) + x // 2.0)(2.3) == 0.0


def test_remainder_derivative_along_the_divisor_is_minus_the_quotient():
    # 7 % 3 = 7 - 3*2 and -7 % 3 = -7 - 3*(-3): d/dy is -2 and 3; fmod truncates: -(-2) = 2
    assert sg.grad(lambda y: 7.0 % y)(3.0) == -2.0
    assert sg.grad(lambda y: -7.0 % y)(3.0) == 3.0
    assert sg.grad(lambda y: np.fmod(-7.0, y))(3.0) == 2.0


def test_in_place_sort_method_is_refused_with_what_to_do():
    with pytest.raises(sg.TracingError, match=r"np\.sort\(x\)"):
        sg.jit(lambda x: x.sort())(V)


def test_numpy_reducing_a_list_of_traced_values_says_to_stack_them():
    with pytest.raises(sg.TracingError, match=r"`np\.mean` computed with traced values as Python objects"
                                              r"(.|\n)*np\.stack"):
        sg.jit(lambda x: np.mean([x[0], x[1] * 2]))(V)
    # stacked, the same is traced
    assert sg.jit(lambda x: np.mean(np.stack([x[0], x[1] * 2])))(V) == pytest.approx((V[0] + 2 * V[1]) / 2)


def test_np_array_of_traced_vectors_says_to_stack_them():
    with pytest.raises(sg.TracingError, match=r"np\.stack\(\[\.\.\.\]\)"):
        sg.jit(lambda x: np.array([x, x]).sum())(V)

"""Formulas of graphs lowered to loops print in array form, as a NumPy user writes them."""

import numpy as np
import pytest

import symgrad as sg

RNG = np.random.default_rng(11)
X = RNG.normal(size=(1000, 10))
Y = RNG.normal(size=(1000, 3))
B = RNG.normal(size=(100, 100))
C = RNG.normal(size=(100, 100))


def least_squares(W):
    return ((X @ W - Y) ** 2).mean()


def test_the_gradient_of_least_squares_reads_like_the_textbook():
    formula = sg.grad(least_squares).formula(np.zeros((10, 3)))
    assert formula.lowering == "loops"
    # 2/N with N = 3000 residuals, in front of X.T @ r
    assert str(formula) == "dW = 1/1500*(X.T @ (X @ W - Y))"
    assert formula.latex() == (
        r"\begin{aligned}dW &= \frac{1}{1500} \left(X^\top \left(X W - Y\right)\right)\end{aligned}"
    )


def test_closed_over_data_is_named_after_its_variable():
    text = str(sg.grad(lambda A: np.tanh(A @ B).sum()).formula(np.zeros((100, 100))))
    assert text == "dA = (1 - tanh(A @ B)**2) @ B.T"


def test_shared_arrays_become_numbered_temporaries():
    rosen = lambda x: (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()  # noqa: E731
    lines = str(sg.grad(rosen).formula(np.zeros(5000))).splitlines()
    assert lines[0] == "t0 = x[:4999]"
    assert lines[-1].startswith("dx = pad(")
    assert len(lines) <= 4


def test_small_graphs_keep_their_scalar_formulas():
    formula = sg.grad(lambda x: 2 * x**2).formula(1.0)
    assert formula.lowering == "scalar" and str(formula) == "4*x"


def test_array_formulas_have_no_sympy_form_and_say_what_to_do():
    with pytest.raises(TypeError, match="smaller arrays"):
        sg.grad(least_squares).formula(np.zeros((10, 3))).sympy()


def test_array_formula_ops_count_array_operations():
    assert sg.grad(least_squares).formula(np.zeros((10, 3))).ops <= 6


@pytest.mark.parametrize("f", [
    lambda A: np.tanh(A @ B).sum() + (A @ C).sum() + (3.0 * A).sum(),  # ones(...) @ C.T: a sum's cotangent
    lambda A: (np.maximum(A @ B, 0.0) * 2).mean(),
], ids=["sums", "maximum"])
def test_an_array_formula_runs_as_numpy_code_and_gives_the_gradient(f):
    A = RNG.normal(size=(100, 100))
    formula = str(sg.grad(f).formula(A))
    namespace = {"A": A, "B": B, "C": C, "ones": np.ones, "full": np.full, "tanh": np.tanh, "where": np.where}
    exec(formula, namespace)
    np.testing.assert_allclose(namespace["dA"], sg.grad(f)(A), rtol=1e-12, atol=1e-12)


def test_a_sum_s_cotangent_prints_as_the_ones_matrix_in_latex():
    latex = sg.grad(lambda A: np.tanh(A @ B).sum() + (A @ C).sum()).formula(np.zeros((100, 100))).latex()
    assert r"\mathbf{1} C^\top" in latex
